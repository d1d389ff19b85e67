//! Daemon-wide secrets and metadata shared by every node of a cluster.

use serde::Deserialize;
use serde_json::json;

use super::{Result, Store, StoreError};

impl Store {
    /// The JWT signing secret: created once, on first start, and shared by every node of a cluster.
    pub async fn jwt_secret(&self) -> Result<Vec<u8>> {
        #[derive(Deserialize)]
        struct SecretRow {
            secret: String,
        }
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        // INSERT IGNORE keeps the first secret when two nodes race at first start.
        let sql = "INSERT IGNORE INTO meta { id: meta:jwt, secret: $secret };\
                   SELECT secret FROM meta:jwt;";
        let row = self
            .first::<SecretRow>(sql, json!({ "secret": candidate }))
            .await?
            .ok_or(StoreError::Decode("meta:jwt missing".into()))?;
        hex::decode(row.secret).map_err(|e| StoreError::Decode(format!("meta:jwt secret: {e}")))
    }
}
