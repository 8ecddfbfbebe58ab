//! Optional sign-in: JSON Web Tokens from an identity provider, a company portal or an SSO
//! proxy. With `--jwt-secret` (HS256) or `--jwt-public-key` (RS256 or ES256), every API
//! call and WebSocket must carry a valid token; its `name` (and `email`) is who the
//! person is, and the server writes it into their presence and onto their edits.
//!
//! Claims read: `exp` (required), `iss` and `aud` when configured, `name` (else
//! `preferred_username`, `email` or `sub`), `email`, and two of Pairpad's own, both
//! optional: `pairpad_access: "view"` (the token only views) and `pairpad_rooms` (the
//! room links, edit or view, it may open; it may then create none).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::Person;
use crate::config::{Config, ConfigError};

/// Shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash's size).
const MIN_SECRET_BYTES: usize = 32;
/// Seconds a token is still taken past its `exp` (clocks differ between machines).
pub const LEEWAY_SECS: u64 = 30;
/// Longest name or email kept from a token, in characters.
const MAX_NAME_CHARS: usize = 100;

/// How tokens are checked.
pub struct SignIn {
    key: DecodingKey,
    validation: Validation,
}

/// Who a valid token says the bearer is, and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Their name and email.
    pub person: Person,
    /// The token only views.
    pub view_only: bool,
    /// The room links it may open; `None` for any.
    pub rooms: Option<Vec<Uuid>>,
    /// When it expires, Unix seconds (`exp`; it is taken [`LEEWAY_SECS`] longer).
    pub expires: u64,
}

impl Identity {
    /// Whether the token may open the room by link `link`.
    pub fn may_open(&self, link: Uuid) -> bool {
        self.rooms
            .as_ref()
            .is_none_or(|rooms| rooms.contains(&link))
    }

    /// Whether the token may create rooms: one that may edit and is not held to rooms.
    pub fn may_create(&self) -> bool {
        !self.view_only && self.rooms.is_none()
    }
}

/// Why a token was refused (the message goes back in the 401).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// None was sent.
    #[error("sign-in required: send a token (Authorization: Bearer …)")]
    Missing,
    /// It has expired.
    #[error("the token has expired; sign in again")]
    Expired,
    /// Anything else: bad signature, algorithm, issuer, audience, shape.
    #[error("the token is not valid here")]
    Invalid,
}

#[derive(Deserialize)]
struct Claims {
    exp: u64,
    name: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
    sub: Option<String>,
    pairpad_access: Option<String>,
    pairpad_rooms: Option<Vec<String>>,
}

impl SignIn {
    /// Sign-in as `config` sets it up; `None` when it is off.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        let bad = |why: String| ConfigError::SignIn(why);
        let (key, algorithm) = match (&config.jwt_secret, &config.jwt_public_key) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(bad("give --jwt-secret or --jwt-public-key, not both".into()))
            }
            (Some(secret), None) => {
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(bad(format!(
                        "--jwt-secret must be at least {MIN_SECRET_BYTES} bytes"
                    )));
                }
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
            (None, Some(key)) => {
                let pem = match key.trim_start().starts_with("-----BEGIN") {
                    true => key.clone(),
                    false => std::fs::read_to_string(key)
                        .map_err(|e| bad(format!("cannot read --jwt-public-key {key}: {e}")))?,
                };
                if let Ok(rsa) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    (rsa, Algorithm::RS256)
                } else if let Ok(ec) = DecodingKey::from_ec_pem(pem.as_bytes()) {
                    (ec, Algorithm::ES256)
                } else {
                    return Err(bad(
                        "--jwt-public-key is not an RSA or EC public key in PEM".into(),
                    ));
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        if let Some(issuer) = &config.jwt_issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &config.jwt_audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        Ok(Some(Self { key, validation }))
    }

    /// Sign-in that refuses every token: what the server falls back to when sign-in was
    /// asked for but its settings cannot be used (closed, never open).
    pub fn refusing() -> Self {
        let secret = format!("{}{}", Uuid::new_v4(), Uuid::new_v4());
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation: Validation::new(Algorithm::HS256),
        }
    }

    /// Checks `token`; who it names, or why it is refused.
    pub fn check(&self, token: &str) -> Result<Identity, Refused> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Refused::Expired,
                _ => Refused::Invalid,
            },
        )?;
        let claims = data.claims;
        // Characters that hide or reorder text are left out, so that "Ada\u{200B}" or
        // a reversed "Alice" cannot pass for someone else.
        let clip = |s: String| -> Option<String> {
            let visible: String = s
                .chars()
                .filter(|&c| !crate::paths::hides_text(c))
                .collect();
            let s: String = visible.trim().chars().take(MAX_NAME_CHARS).collect();
            (!s.is_empty() && !s.chars().any(char::is_control)).then_some(s)
        };
        let email = claims.email.and_then(clip);
        let name = [
            claims.name,
            claims.preferred_username,
            email.clone(),
            claims.sub,
        ]
        .into_iter()
        .flatten()
        .find_map(clip)
        .ok_or(Refused::Invalid)?;
        let view_only = match claims.pairpad_access.as_deref() {
            None | Some("edit") => false,
            Some("view") => true,
            Some(_) => return Err(Refused::Invalid),
        };
        let rooms = match claims.pairpad_rooms {
            None => None,
            Some(rooms) => Some(
                rooms
                    .iter()
                    .map(|r| Uuid::try_parse(r).map_err(|_| Refused::Invalid))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Identity {
            person: Person { name, email },
            view_only,
            rooms,
            expires: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "a test secret that is long enough for HS256";

    fn sign_in(extra: &[&str]) -> SignIn {
        let mut args = vec!["--jwt-secret", SECRET];
        args.extend(extra);
        let config = Config::from_args(args).unwrap();
        SignIn::from_config(&config).unwrap().unwrap()
    }

    fn token(claims: serde_json::Value) -> String {
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        encode(&Header::default(), &claims, &key).unwrap()
    }

    fn in_an_hour() -> u64 {
        jsonwebtoken::get_current_timestamp() + 3600
    }

    #[test]
    fn claims_make_the_identity() {
        let check = sign_in(&[]);
        let who = check
            .check(&token(
                json!({"exp": in_an_hour(), "name": "Ada", "email": "ada@example.com"}),
            ))
            .unwrap();
        assert_eq!(who.person.name, "Ada");
        assert_eq!(who.person.email.as_deref(), Some("ada@example.com"));
        assert!(!who.view_only && who.may_create());
        let hidden =
            json!({"exp": in_an_hour(), "name": "Ada\u{200B}", "email": "\u{202E}moc.x@a"});
        let hidden = check.check(&token(hidden)).unwrap();
        assert_eq!(
            hidden.person.name, "Ada",
            "invisible characters are left out"
        );
        assert_eq!(hidden.person.email.as_deref(), Some("moc.x@a"));
        let by_sub = check
            .check(&token(json!({"exp": in_an_hour(), "sub": "u-42"})))
            .unwrap();
        assert_eq!(by_sub.person.name, "u-42");
        let room = Uuid::new_v4();
        let held = check
            .check(&token(json!({"exp": in_an_hour(), "name": "V", "pairpad_access": "view", "pairpad_rooms": [room]})))
            .unwrap();
        assert!(held.view_only && !held.may_create());
        assert!(held.may_open(room) && !held.may_open(Uuid::new_v4()));
        for bad in [
            json!({"exp": in_an_hour()}),
            json!({"exp": in_an_hour(), "name": "  "}),
            json!({"exp": in_an_hour(), "name": "a\u{0}b"}),
            json!({"exp": in_an_hour(), "name": "\u{200B}\u{202E}"}),
            json!({"exp": in_an_hour(), "name": "early", "nbf": in_an_hour()}),
            json!({"exp": in_an_hour(), "name": "x", "pairpad_access": "admin"}),
            json!({"exp": in_an_hour(), "name": "x", "pairpad_rooms": ["nope"]}),
            json!({"name": "no expiry"}),
        ] {
            assert_eq!(
                check.check(&token(bad.clone())),
                Err(Refused::Invalid),
                "{bad}"
            );
        }
        let old = json!({"exp": jsonwebtoken::get_current_timestamp() - 120, "name": "Ada"});
        assert_eq!(check.check(&token(old)), Err(Refused::Expired));
    }

    #[test]
    fn issuer_and_audience_are_held_to() {
        let check = sign_in(&[
            "--jwt-issuer",
            "https://id.example.com",
            "--jwt-audience",
            "pairpad",
        ]);
        let good = json!({"exp": in_an_hour(), "name": "Ada", "iss": "https://id.example.com", "aud": "pairpad"});
        assert!(check.check(&token(good)).is_ok());
        for bad in [
            json!({"exp": in_an_hour(), "name": "Ada", "iss": "https://id.example.com", "aud": "other"}),
            json!({"exp": in_an_hour(), "name": "Ada", "iss": "https://evil.example.com", "aud": "pairpad"}),
            json!({"exp": in_an_hour(), "name": "Ada", "iss": "https://id.example.com"}),
            json!({"exp": in_an_hour(), "name": "Ada", "aud": "pairpad"}),
        ] {
            assert_eq!(
                check.check(&token(bad.clone())),
                Err(Refused::Invalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn weak_or_doubled_settings_are_refused() {
        let short = Config::from_args(["--jwt-secret", "short"]).unwrap();
        assert!(SignIn::from_config(&short).is_err());
        let not_pem = Config::from_args(["--jwt-public-key=-----BEGIN nonsense"]).unwrap();
        assert!(SignIn::from_config(&not_pem).is_err());
        let missing = Config::from_args(["--jwt-public-key", "/nonexistent/key.pem"]).unwrap();
        assert!(SignIn::from_config(&missing).is_err());
        let off = Config::from_args(Vec::<String>::new()).unwrap();
        assert!(SignIn::from_config(&off).unwrap().is_none());
    }
}
