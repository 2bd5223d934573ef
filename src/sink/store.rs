//! The lake's location: a URL turned into an [`ObjectStore`] and a root path inside it.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;

use crate::error::{Error, Result};

/// A lake: an object store and the prefix under which its tables live.
#[derive(Clone)]
pub struct Lake {
    pub store: Arc<dyn ObjectStore>,
    pub root: Path,
    /// The URL as the user gave it (for messages; it never carries credentials).
    pub url: String,
    /// The URL DataFusion registers the store under (`file:///`, `s3://bucket`, ...).
    pub store_url: Url,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("url", &self.url)
            .field("root", &self.root)
            .finish()
    }
}

impl Lake {
    /// Opens (creating a local directory if needed) the lake at `url` with object_store options
    /// (`--storage-option key=value`; credentials otherwise come from the environment).
    pub fn open(url: &str, options: &[(String, String)]) -> Result<Lake> {
        let bad = |m: String| Error::BadDestination {
            url: url.to_string(),
            message: m,
        };
        let looks_remote = url.contains("://") && !url.starts_with("file://");
        if !looks_remote {
            let path = url.strip_prefix("file://").unwrap_or(url);
            std::fs::create_dir_all(path)
                .map_err(|e| bad(format!("cannot create directory: {e}")))?;
            let abs = std::fs::canonicalize(path)
                .map_err(|e| bad(format!("cannot resolve directory: {e}")))?;
            let store = LocalFileSystem::new_with_prefix(&abs).map_err(|e| bad(e.to_string()))?;
            let store_url =
                Url::from_directory_path(&abs).map_err(|_| bad("not an absolute path".into()))?;
            return Ok(Lake {
                store: Arc::new(store),
                root: Path::default(),
                url: url.to_string(),
                store_url,
            });
        }
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(
                "credentials in the URL are not accepted; use the environment or --storage-option"
                    .into(),
            ));
        }
        let opts = options
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()));
        let (store, root) =
            object_store::parse_url_opts(&parsed, opts).map_err(|e| bad(e.to_string()))?;
        let mut store_url = parsed.clone();
        store_url.set_path("/");
        store_url.set_query(None);
        Ok(Lake {
            store: Arc::from(store),
            root,
            url: url.to_string(),
            store_url,
        })
    }

    /// A path under the lake's root.
    pub fn path(&self, rel: &str) -> Path {
        let mut parts: Vec<String> = self.root.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(rel.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        Path::parse(parts.join("/")).unwrap_or_else(|_| Path::from_iter(parts))
    }

    /// `rel` for a path under the root.
    pub fn relative(&self, p: &Path) -> String {
        let n = self.root.parts().count();
        p.parts()
            .skip(n)
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/")
    }
}
