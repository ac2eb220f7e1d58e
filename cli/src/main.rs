//! `lanes`: multi-core IPsec for Linux.
fn main() {
    println!("lanes");
}
