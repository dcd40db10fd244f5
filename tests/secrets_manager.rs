//! The principals document in AWS Secrets Manager, against a real emulator (moto's server,
//! installed by scripts/ensure-moto.sh on first use): load, authenticate, rotate.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_secretsmanager::config::{Credentials, Region};
use s3_upload_mcp::auth::{AuthError, KeySource, KeyStore};
use sha2::{Digest, Sha256};

/// moto_server on a free loopback port; killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-moto.sh");
        let output = Command::new(&script)
            .output()
            .expect("scripts/ensure-moto.sh runs");
        assert!(
            output.status.success(),
            "installing moto failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let moto_server = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Moto { child, endpoint };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto_server did not listen on {endpoint}");
    }
}

impl Moto {
    /// A Secrets Manager client for this emulator.
    async fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(&self.endpoint)
            .load()
            .await;
        aws_sdk_secretsmanager::Client::new(&sdk)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn document(id: &str, key: &str) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!(
        r#"{{"keys":[{{"id":"{id}","sha256":"{digest}","buckets":["*"],"prefixes":["figma/*"]}}]}}"#
    )
}

#[tokio::test]
async fn keys_load_from_secrets_manager_and_a_rotation_applies_after_the_ttl() {
    let moto = Moto::start();
    let client = moto.secrets_manager().await;
    let secret_id = "s3-upload-mcp/api-keys";
    client
        .create_secret()
        .name(secret_id)
        .secret_string(document("designer", "first-key"))
        .send()
        .await
        .expect("secret created");

    let source = KeySource::SecretsManager {
        client: client.clone(),
        secret_id: secret_id.into(),
    };
    let store = KeyStore::load(source, Duration::from_secs(1))
        .await
        .expect("loads");
    let principal = store
        .by_api_key("first-key")
        .await
        .expect("the key is valid");
    assert_eq!(principal.id, "designer");
    assert!(principal.policy.allows_key("figma/a.webp"));
    assert!(!principal.policy.allows_key("other/a.webp"));
    assert_eq!(
        store.by_api_key("other-key").await.unwrap_err(),
        AuthError::InvalidCredentials
    );

    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(document("designer", "second-key"))
        .send()
        .await
        .expect("rotated");
    // Within the TTL the loaded set stands; after it, the rotation is in force.
    assert!(store.by_api_key("first-key").await.is_ok());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(store.by_api_key("second-key").await.is_ok());
    assert_eq!(
        store.by_api_key("first-key").await.unwrap_err(),
        AuthError::InvalidCredentials
    );
}

#[tokio::test]
async fn a_missing_secret_stops_the_server_at_start_with_its_name() {
    let moto = Moto::start();
    let source = KeySource::SecretsManager {
        client: moto.secrets_manager().await,
        secret_id: "does-not-exist".into(),
    };
    let err = KeyStore::load(source, Duration::from_secs(300))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("does-not-exist"), "{err}");
}
