//! Loader for the lanes XDP steering program: SPI -> CPU -> cpumap.
