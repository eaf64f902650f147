//! The local token: a random 256-bit value, made once per install and kept in the keyring,
//! that tools present to Redline's local proxy and API instead of a real API key.

use crate::keys::secret::Secret;
use crate::keys::vault::{Slot, Vault, VaultError};

/// Tokens look like `rl_` and 64 hex digits, so they are easy to recognise in a tool's config.
pub const TOKEN_PREFIX: &str = "rl_";

/// The install's token, made and stored on first use. Blocking.
pub fn local_token(vault: &Vault) -> Result<Secret, VaultError> {
    match vault.get(&Slot::LocalToken)? {
        Some(token) => Ok(token),
        None => reset_local_token(vault),
    }
}

/// Replaces the token with a new random one; tools holding the old one stop working. Blocking.
pub fn reset_local_token(vault: &Vault) -> Result<Secret, VaultError> {
    let token = generate_token();
    vault.set(&Slot::LocalToken, &token)?;
    Ok(token)
}

/// A fresh random token (the demo uses one that is never stored).
pub fn generate_token() -> Secret {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).expect("the operating system's random source failed");
    let mut text = zeroize::Zeroizing::new(String::with_capacity(TOKEN_PREFIX.len() + 64));
    text.push_str(TOKEN_PREFIX);
    for byte in bytes.iter() {
        text.push_str(&format!("{byte:02x}"));
    }
    Secret::parse(&text).expect("a generated token is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        let hex = a.expose().strip_prefix(TOKEN_PREFIX).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
