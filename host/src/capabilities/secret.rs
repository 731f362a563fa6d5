//! Secrets as a type that does not print: `Debug` and `Display` show
//! `[redacted]`, and the bytes are zeroed when the value is dropped.

use std::fmt;

use zeroize::Zeroizing;

/// A credential. Read it only where it goes on the wire, through `expose`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// Returns the secret's text, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A tenant's credentials for its two APIs.
#[derive(Debug, Clone)]
pub struct TenantSecrets {
    /// Sent as `Authorization: App <key>` to LeafLink.
    pub leaflink_api_key: Secret,
    /// The OAuth2 client secret the host exchanges for BC bearer tokens.
    pub business_central_client_secret: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formatting_is_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn tenant_secrets_debug_is_redacted() {
        let secrets = TenantSecrets {
            leaflink_api_key: Secret::new("ll-key"),
            business_central_client_secret: Secret::new("bc-secret"),
        };
        let printed = format!("{secrets:?}");
        assert!(!printed.contains("ll-key"), "{printed}");
        assert!(!printed.contains("bc-secret"), "{printed}");
    }
}
