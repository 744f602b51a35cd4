//! The control plane's activation signal signature: `X-Capacity-Signature: v1=<hex>` over
//! `"v1:" + timestamp + ":" + raw body`, HMAC-SHA256 with `CAPACITY_SIGNAL_SECRET`, and a
//! five-minute window both ways so a captured request cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const WINDOW_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Capacity-Timestamp header")]
    MissingTimestamp,
    #[error("X-Capacity-Timestamp must be unix seconds")]
    BadTimestamp,
    #[error("timestamp is more than 5 minutes away from now")]
    OutsideWindow,
    #[error("missing X-Capacity-Signature header")]
    MissingSignature,
    #[error("X-Capacity-Signature must be v1=<hex>")]
    BadSignatureFormat,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(b"v1:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The header value a sender puts in `X-Capacity-Signature`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Checks the headers against the raw body. Constant-time comparison of the MAC.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now_unix - ts).abs() > WINDOW_SECONDS {
        return Err(SignatureError::OutsideWindow);
    }
    let signature = signature.ok_or(SignatureError::MissingSignature)?.trim();
    let hex_part = signature
        .strip_prefix("v1=")
        .ok_or(SignatureError::BadSignatureFormat)?;
    let given = hex::decode(hex_part).map_err(|_| SignatureError::BadSignatureFormat)?;
    mac(secret, timestamp, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";
    const BODY: &[u8] =
        br#"{"request":"CR-12","signal_id":"s1","observed_at":"2026-12-03T15:00:00Z"}"#;

    #[test]
    fn a_signature_made_by_sign_verifies() {
        let sig = sign(SECRET, "1764774000", BODY);
        assert!(sig.starts_with("v1=") && sig.len() == 67);
        assert_eq!(
            verify(SECRET, Some("1764774000"), Some(&sig), BODY, 1764774000),
            Ok(())
        );
        assert_eq!(
            verify(
                SECRET,
                Some("1764774000"),
                Some(&sig),
                BODY,
                1764774000 + 300
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                SECRET,
                Some("1764774000"),
                Some(&sig),
                BODY,
                1764774000 - 300
            ),
            Ok(())
        );
    }

    #[test]
    fn the_window_is_five_minutes_both_ways() {
        let sig = sign(SECRET, "1764774000", BODY);
        assert_eq!(
            verify(SECRET, Some("1764774000"), Some(&sig), BODY, 1764774301),
            Err(SignatureError::OutsideWindow)
        );
        assert_eq!(
            verify(SECRET, Some("1764774000"), Some(&sig), BODY, 1764773699),
            Err(SignatureError::OutsideWindow)
        );
    }

    #[test]
    fn tampering_is_caught() {
        let sig = sign(SECRET, "1764774000", BODY);
        let mut body = BODY.to_vec();
        body[15] ^= 1;
        assert_eq!(
            verify(SECRET, Some("1764774000"), Some(&sig), &body, 1764774000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", Some("1764774000"), Some(&sig), BODY, 1764774000),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is part of what is signed.
        assert_eq!(
            verify(SECRET, Some("1764774001"), Some(&sig), BODY, 1764774000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some("x"), Some(&sig), BODY, 0),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(SECRET, None, Some(&sig), BODY, 0),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(SECRET, Some("1764774000"), None, BODY, 1764774000),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(
            verify(
                SECRET,
                Some("1764774000"),
                Some("sha256=00"),
                BODY,
                1764774000
            ),
            Err(SignatureError::BadSignatureFormat)
        );
        assert_eq!(
            verify(SECRET, Some("1764774000"), Some("v1=zz"), BODY, 1764774000),
            Err(SignatureError::BadSignatureFormat)
        );
    }
}
