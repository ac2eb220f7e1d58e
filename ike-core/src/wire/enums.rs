//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registries as
//! open newtypes (RFC 7296 §3, IANA ikev2-parameters).
//!
//! Every registry is a `pub struct Name(pub uN)` with named constants, in the
//! style of rustls's `enum_builder!`: unknown code points are representable,
//! round-trip through the codec unchanged and print as `Name(0x..)`.

use core::fmt;

/// Declares an open IANA newtype with named constants and a `Debug` that
/// prints the constant's name (or the raw value when unknown).
macro_rules! ike_enum {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$vmeta:meta])* $var:ident = $val:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$vmeta])* pub const $var: Self = Self($val); )*

            /// The registered name of this code point, if it is known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($var)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, concat!(stringify!($name), "({:#x})"), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

ike_enum! {
    /// Exchange Types (RFC 7296 §3.1; RFC 9242, RFC 9370).
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        IKE_SESSION_RESUME = 38,
        IKE_INTERMEDIATE = 43,
        IKE_FOLLOWUP_KE = 44,
    }
}

ike_enum! {
    /// Payload Types (RFC 7296 §3.2; SKF from RFC 7383).
    PayloadType(u8) {
        /// "No Next Payload".
        NONE = 0,
        SA = 33,
        KE = 34,
        IDI = 35,
        IDR = 36,
        CERT = 37,
        CERTREQ = 38,
        AUTH = 39,
        NONCE = 40,
        NOTIFY = 41,
        DELETE = 42,
        VENDOR_ID = 43,
        TSI = 44,
        TSR = 45,
        SK = 46,
        CP = 47,
        EAP = 48,
        GSPM = 49,
        SKF = 53,
    }
}

ike_enum! {
    /// Notify Message Types (RFC 7296 §3.10.1 and later RFCs).
    ///
    /// Values below 16384 are errors, 16384 and above are status types.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        UNACCEPTABLE_ADDRESSES = 40,
        UNEXPECTED_NAT_DETECTED = 41,
        USE_ASSIGNED_HOA = 42,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        INVALID_GROUP_ID = 45,
        AUTHORIZATION_FAILED = 46,
        STATE_NOT_FOUND = 47,
        /// RFC 9611 §4.2: no more Child SAs for this TS set.
        TS_MAX_QUEUE = 48,
        INITIAL_CONTACT = 16384,
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388,
        NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        MOBIKE_SUPPORTED = 16396,
        ADDITIONAL_IP4_ADDRESS = 16397,
        ADDITIONAL_IP6_ADDRESS = 16398,
        NO_ADDITIONAL_ADDRESSES = 16399,
        UPDATE_SA_ADDRESSES = 16400,
        COOKIE2 = 16401,
        NO_NATS_ALLOWED = 16402,
        AUTH_LIFETIME = 16403,
        MULTIPLE_AUTH_SUPPORTED = 16404,
        ANOTHER_AUTH_FOLLOWS = 16405,
        REDIRECT_SUPPORTED = 16406,
        REDIRECT = 16407,
        REDIRECTED_FROM = 16408,
        TICKET_LT_OPAQUE = 16409,
        TICKET_REQUEST = 16410,
        TICKET_ACK = 16411,
        TICKET_NACK = 16412,
        TICKET_OPAQUE = 16413,
        LINK_ID = 16414,
        USE_WESP_MODE = 16415,
        ROHC_SUPPORTED = 16416,
        EAP_ONLY_AUTHENTICATION = 16417,
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        QUICK_CRASH_DETECTION = 16419,
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        IKEV2_MESSAGE_ID_SYNC = 16422,
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        SECURE_PASSWORD_METHODS = 16424,
        PSK_PERSIST = 16425,
        PSK_CONFIRM = 16426,
        ERX_SUPPORTED = 16427,
        IFOM_CAPABILITY = 16428,
        SENDER_REQUEST_ID = 16429,
        /// RFC 7383 §2.3.
        FRAGMENTATION_SUPPORTED = 16430,
        /// RFC 7427 §4.
        SIGNATURE_HASH_ALGORITHMS = 16431,
        CLONE_IKE_SA_SUPPORTED = 16432,
        CLONE_IKE_SA = 16433,
        PUZZLE = 16434,
        USE_PPK = 16435,
        PPK_IDENTITY = 16436,
        NO_PPK_AUTH = 16437,
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
        IP4_ALLOWED = 16439,
        IP6_ALLOWED = 16440,
        ADDITIONAL_KEY_EXCHANGE = 16441,
        USE_AGGFRAG = 16442,
        SUPPORTED_AUTH_METHODS = 16443,
        /// RFC 9611 §4.1: per-resource Child SA; data is an opaque resource id.
        SA_RESOURCE_INFO = 16444,
    }
}

impl NotifyType {
    /// RFC 7296 §3.10.1: types 0..=16383 report errors.
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

ike_enum! {
    /// Transform Types (RFC 7296 §3.3.2).
    TransformType(u8) {
        ENCR = 1,
        PRF = 2,
        INTEG = 3,
        /// Key Exchange Method (formerly "Diffie-Hellman Group").
        KE = 4,
        ESN = 5,
        /// Additional Key Exchange 1..7 (RFC 9370 §2.2.1).
        ADDITIONAL_KEY_EXCHANGE_1 = 6,
        ADDITIONAL_KEY_EXCHANGE_2 = 7,
        ADDITIONAL_KEY_EXCHANGE_3 = 8,
        ADDITIONAL_KEY_EXCHANGE_4 = 9,
        ADDITIONAL_KEY_EXCHANGE_5 = 10,
        ADDITIONAL_KEY_EXCHANGE_6 = 11,
        ADDITIONAL_KEY_EXCHANGE_7 = 12,
    }
}

ike_enum! {
    /// Transform Type 1, Encryption Algorithm IDs (RFC 7296 §3.3.2,
    /// RFC 5282, RFC 7634).
    EncrId(u16) {
        DES_IV64 = 1,
        DES = 2,
        TRIPLE_DES = 3,
        NULL = 11,
        AES_CBC = 12,
        AES_CTR = 13,
        AES_CCM_8 = 14,
        AES_CCM_12 = 15,
        AES_CCM_16 = 16,
        AES_GCM_8 = 18,
        AES_GCM_12 = 19,
        AES_GCM_16 = 20,
        NULL_AUTH_AES_GMAC = 21,
        CAMELLIA_CBC = 23,
        CHACHA20_POLY1305 = 28,
    }
}

ike_enum! {
    /// Transform Type 2, Pseudorandom Function IDs (RFC 7296, RFC 4868).
    PrfId(u16) {
        HMAC_MD5 = 1,
        HMAC_SHA1 = 2,
        AES128_XCBC = 4,
        HMAC_SHA2_256 = 5,
        HMAC_SHA2_384 = 6,
        HMAC_SHA2_512 = 7,
        AES128_CMAC = 8,
    }
}

ike_enum! {
    /// Transform Type 3, Integrity Algorithm IDs (RFC 7296, RFC 4868).
    IntegId(u16) {
        NONE = 0,
        HMAC_MD5_96 = 1,
        HMAC_SHA1_96 = 2,
        AES_XCBC_96 = 5,
        AES_CMAC_96 = 8,
        HMAC_SHA2_256_128 = 12,
        HMAC_SHA2_384_192 = 13,
        HMAC_SHA2_512_256 = 14,
    }
}

ike_enum! {
    /// Transform Type 4, Key Exchange Method IDs (DH groups; RFC 7296,
    /// RFC 3526, RFC 5903, RFC 8031; ML-KEM from RFC 9370's registry).
    KeId(u16) {
        NONE = 0,
        MODP_768 = 1,
        MODP_1024 = 2,
        MODP_1536 = 5,
        MODP_2048 = 14,
        MODP_3072 = 15,
        MODP_4096 = 16,
        MODP_6144 = 17,
        MODP_8192 = 18,
        ECP_256 = 19,
        ECP_384 = 20,
        ECP_521 = 21,
        ECP_256_BP = 28,
        ECP_384_BP = 29,
        ECP_512_BP = 30,
        CURVE25519 = 31,
        CURVE448 = 32,
        ML_KEM_512 = 35,
        ML_KEM_768 = 36,
        ML_KEM_1024 = 37,
    }
}

ike_enum! {
    /// Transform Type 5, Extended Sequence Numbers (RFC 7296 §3.3.2).
    EsnId(u16) {
        NO_ESN = 0,
        ESN = 1,
    }
}

ike_enum! {
    /// Security Protocol Identifiers (RFC 7296 §3.3.1).
    ProtocolId(u8) {
        /// Used in Notify payloads that relate to no SA (RFC 7296 §3.10).
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
    }
}

ike_enum! {
    /// Identification types (RFC 7296 §3.5).
    IdType(u8) {
        IPV4_ADDR = 1,
        FQDN = 2,
        RFC822_ADDR = 3,
        IPV6_ADDR = 5,
        DER_ASN1_DN = 9,
        DER_ASN1_GN = 10,
        KEY_ID = 11,
        FC_NAME = 12,
        NULL = 13,
    }
}

ike_enum! {
    /// Authentication Method (RFC 7296 §3.8, RFC 7427, RFC 7619).
    AuthMethod(u8) {
        RSA_SIG = 1,
        /// Shared Key Message Integrity Code (PSK, RFC 7296 §2.15).
        PSK = 2,
        DSS_SIG = 3,
        ECDSA_SHA256_P256 = 9,
        ECDSA_SHA384_P384 = 10,
        ECDSA_SHA512_P521 = 11,
        GSPAM = 12,
        NULL = 13,
        DIGITAL_SIGNATURE = 14,
    }
}

ike_enum! {
    /// Traffic Selector Types (RFC 7296 §3.13.1, RFC 9478).
    TsType(u8) {
        IPV4_ADDR_RANGE = 7,
        IPV6_ADDR_RANGE = 8,
        FC_ADDR_RANGE = 9,
        SECLABEL = 10,
    }
}

ike_enum! {
    /// Configuration Payload CFG Type (RFC 7296 §3.15).
    CfgType(u8) {
        REQUEST = 1,
        REPLY = 2,
        SET = 3,
        ACK = 4,
    }
}

ike_enum! {
    /// Configuration Payload Attribute Types (RFC 7296 §3.15.1).
    CfgAttrType(u16) {
        INTERNAL_IP4_ADDRESS = 1,
        INTERNAL_IP4_NETMASK = 2,
        INTERNAL_IP4_DNS = 3,
        INTERNAL_IP4_NBNS = 4,
        INTERNAL_IP4_DHCP = 6,
        APPLICATION_VERSION = 7,
        INTERNAL_IP6_ADDRESS = 8,
        INTERNAL_IP6_DNS = 10,
        INTERNAL_IP6_DHCP = 12,
        INTERNAL_IP4_SUBNET = 13,
        SUPPORTED_ATTRIBUTES = 14,
        INTERNAL_IP6_SUBNET = 15,
    }
}

ike_enum! {
    /// Certificate Encoding (RFC 7296 §3.6).
    CertEncoding(u8) {
        PKCS7_X509 = 1,
        PGP = 2,
        DNS_SIGNED_KEY = 3,
        X509_SIGNATURE = 4,
        KERBEROS_TOKEN = 6,
        CRL = 7,
        ARL = 8,
        SPKI = 9,
        X509_ATTRIBUTE = 10,
        HASH_AND_URL_X509 = 12,
        HASH_AND_URL_X509_BUNDLE = 13,
    }
}

ike_enum! {
    /// Transform attribute types (RFC 7296 §3.3.5).
    TransformAttrType(u16) {
        KEY_LENGTH = 14,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_names_and_unknowns() {
        assert_eq!(
            format!("{:?}", NotifyType::SA_RESOURCE_INFO),
            "SA_RESOURCE_INFO"
        );
        assert_eq!(NotifyType::SA_RESOURCE_INFO.0, 16444);
        assert_eq!(NotifyType::TS_MAX_QUEUE.0, 48);
        assert_eq!(format!("{:?}", NotifyType(60000)), "NotifyType(0xea60)");
        assert!(NotifyType::TS_MAX_QUEUE.is_error());
        assert!(!NotifyType::COOKIE.is_error());
        assert_eq!(KeId::from(31), KeId::CURVE25519);
    }
}
