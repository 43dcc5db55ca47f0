//! For tests only: misbehaves according to the bearer secret it is shown, so that the
//! suite can check that the host contains each kind of misbehaviour.

use duckstore_plugin_guest::auth_provider::*;

struct Hostile;

impl Guest for Hostile {
    fn schemes() -> Vec<String> {
        vec!["bearer".to_owned()]
    }

    fn authenticate(credential: Credential) -> Result<Outcome, Error> {
        match credential.secret.as_str() {
            "hostile-loop" => loop {
                std::hint::black_box(());
            },
            "hostile-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "hostile-panic" => panic!("the hostile plugin panics on purpose"),
            "hostile-error" => Err(Error::internal("the hostile plugin fails on purpose")),
            // Claims to be a principal without any grant: allowed, but useless.
            "hostile-nobody" => Ok(Outcome::Authenticated(Principal {
                subject: "nobody".to_owned(),
                groups: vec![],
                grants: vec![],
                expires_at: None,
            })),
            _ => Ok(Outcome::NotApplicable),
        }
    }
}

duckstore_plugin_guest::auth_provider_plugin!(Hostile);
