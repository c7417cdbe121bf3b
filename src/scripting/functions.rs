//! FUNCTION libraries: metadata, the registry of loaded libraries, their persistence and the
//! FUNCTION DUMP / RESTORE payloads.
//!
//! A library is kept as its source code (shebang line included) in the `default` column family
//! under [`LIBRARY_KEY_PREFIX`] + name, the record `basalt-rdb` import and export already use for
//! the RDB FUNCTION opcode. It is written (with the WAL) before FUNCTION LOAD/DELETE/FLUSH/RESTORE
//! reply, and loaded back at startup. Each thread's Lua state runs the libraries' code itself when
//! it first needs them (see `engine`); the registry only holds code and metadata.

use crate::rdb::RdbError;
use crate::storage::{Store, StoreError};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where a library is stored: `fn/` + name in the `default` column family, its code as value.
pub const LIBRARY_KEY_PREFIX: &[u8] = b"fn/";
/// The byte after `/`, bounding the libraries' key range.
const LIBRARY_KEY_END: &[u8] = b"fn0";

/// One function of a library, as FUNCTION LIST shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Vec<u8>>,
    /// [`super::cache::flags`].
    pub flags: u32,
}

/// A loaded library.
#[derive(Debug)]
pub struct Library {
    pub name: String,
    /// The whole source, shebang line included.
    pub code: Vec<u8>,
    pub functions: Vec<FunctionInfo>,
}

/// A library's shebang: its name, and where the Lua code starts (the shebang line's newline,
/// so line numbers stay those of the source).
#[derive(Debug, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub code_start: usize,
}

/// Whether a library or function name is letters, digits and underscores (at least one).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Parses `#!lua name=<name>` (Redis's `functionExtractLibMetaData`), with Redis's errors.
pub fn parse_metadata(code: &[u8]) -> Result<Metadata, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(first) = parts.next() else {
        return Err("ERR Invalid library metadata".into());
    };
    let engine = &first[2..];
    let mut name = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(format!("ERR Invalid metadata value given: {part}"));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok(Metadata {
        name,
        code_start: end,
    })
}

#[derive(Default)]
struct Inner {
    libraries: BTreeMap<String, Arc<Library>>,
    /// Function name -> library and index of the function in it.
    functions: HashMap<String, (Arc<Library>, usize)>,
}

impl Inner {
    fn link(&mut self, lib: Arc<Library>) {
        for (i, f) in lib.functions.iter().enumerate() {
            self.functions.insert(f.name.clone(), (Arc::clone(&lib), i));
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &str) -> Option<Arc<Library>> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            self.functions.remove(&f.name);
        }
        Some(lib)
    }
}

/// The libraries loaded on this server.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
    generation: AtomicU64,
}

/// How FUNCTION RESTORE treats libraries that already exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestorePolicy {
    Append,
    Replace,
    Flush,
}

impl Registry {
    /// Changes whenever the set of libraries does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Every library, by name.
    pub fn libraries(&self) -> Vec<Arc<Library>> {
        self.inner.read().libraries.values().cloned().collect()
    }

    /// A function's library and its description.
    pub fn function(&self, name: &str) -> Option<(Arc<Library>, FunctionInfo)> {
        let inner = self.inner.read();
        let (lib, i) = inner.functions.get(name)?;
        Some((Arc::clone(lib), lib.functions[*i].clone()))
    }

    /// Whether a library of this name exists.
    pub fn has_library(&self, name: &str) -> bool {
        self.inner.read().libraries.contains_key(name)
    }

    /// Number of libraries and of functions (FUNCTION STATS).
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.inner.read();
        (inner.libraries.len(), inner.functions.len())
    }

    /// Installs a library (FUNCTION LOAD), replacing one of the same name if `replace`, and
    /// persists it. Errors are Redis's replies.
    pub fn load(&self, store: &Store, lib: Library, replace: bool) -> Result<(), String> {
        let mut inner = self.inner.write();
        if inner.libraries.contains_key(&lib.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", lib.name));
        }
        for f in &lib.functions {
            if let Some((other, _)) = inner.functions.get(&f.name) {
                if other.name != lib.name {
                    return Err(format!("ERR Function {} already exists", f.name));
                }
            }
        }
        put(store, &lib.name, &lib.code).map_err(|e| format!("ERR {e}"))?;
        inner.unlink(&lib.name);
        inner.link(Arc::new(lib));
        drop(inner);
        self.bump();
        Ok(())
    }

    /// FUNCTION DELETE.
    pub fn delete(&self, store: &Store, name: &str) -> Result<(), String> {
        let mut inner = self.inner.write();
        if !inner.libraries.contains_key(name) {
            return Err("ERR Library not found".into());
        }
        delete(store, name).map_err(|e| format!("ERR {e}"))?;
        inner.unlink(name);
        drop(inner);
        self.bump();
        Ok(())
    }

    /// FUNCTION FLUSH.
    pub fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        flush(store)?;
        *inner = Inner::default();
        drop(inner);
        self.bump();
        Ok(())
    }

    /// FUNCTION RESTORE of already-loaded libraries, with Redis's checks (nothing changes on
    /// error).
    pub fn restore(
        &self,
        store: &Store,
        libs: Vec<Library>,
        policy: RestorePolicy,
    ) -> Result<(), String> {
        let mut inner = self.inner.write();
        let mut staged = match policy {
            RestorePolicy::Flush => Inner::default(),
            _ => Inner {
                libraries: inner.libraries.clone(),
                functions: inner.functions.clone(),
            },
        };
        if policy != RestorePolicy::Flush {
            for lib in &libs {
                if staged.libraries.contains_key(&lib.name) {
                    if policy == RestorePolicy::Append {
                        return Err(format!("ERR Library {} already exists", lib.name));
                    }
                    staged.unlink(&lib.name);
                }
            }
        }
        for lib in &libs {
            for f in &lib.functions {
                if staged.functions.contains_key(&f.name) {
                    return Err(format!("ERR Function {} already exists", f.name));
                }
            }
        }
        let mut wb = rocksdb::WriteBatch::default();
        if policy == RestorePolicy::Flush {
            wb.delete_range(LIBRARY_KEY_PREFIX, LIBRARY_KEY_END);
        }
        for lib in &libs {
            wb.put(record_key(&lib.name), &lib.code);
        }
        store
            .rocks()
            .write(wb)
            .map_err(|e| format!("ERR {}", StoreError::from(e)))?;
        for lib in libs {
            staged.link(Arc::new(lib));
        }
        *inner = staged;
        drop(inner);
        self.bump();
        Ok(())
    }

    /// Installs libraries read at startup, without persisting them again.
    pub fn install_loaded(&self, libs: Vec<Library>) {
        let mut inner = self.inner.write();
        for lib in libs {
            inner.unlink(&lib.name);
            inner.link(Arc::new(lib));
        }
        drop(inner);
        self.bump();
    }

    /// FUNCTION DUMP: every library's code as FUNCTION2 records, with the DUMP footer.
    pub fn dump(&self) -> Result<Vec<u8>, RdbError> {
        let mut w = crate::rdb::writer::Writer::payload();
        for lib in self.libraries() {
            w.function(&lib.code)?;
        }
        w.finish_payload()
    }
}

fn record_key(name: &str) -> Vec<u8> {
    [LIBRARY_KEY_PREFIX, name.as_bytes()].concat()
}

fn put(store: &Store, name: &str, code: &[u8]) -> Result<(), StoreError> {
    store.rocks().put(record_key(name), code)?;
    Ok(())
}

fn delete(store: &Store, name: &str) -> Result<(), StoreError> {
    store.rocks().delete(record_key(name))?;
    Ok(())
}

fn flush(store: &Store) -> Result<(), StoreError> {
    let mut wb = rocksdb::WriteBatch::default();
    wb.delete_range(LIBRARY_KEY_PREFIX, LIBRARY_KEY_END);
    store.rocks().write(wb)?;
    Ok(())
}

/// The stored libraries' code, by name.
pub fn stored(store: &Store) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for item in store.rocks().prefix_iterator(LIBRARY_KEY_PREFIX) {
        let (k, v) = item?;
        if !k.starts_with(LIBRARY_KEY_PREFIX) {
            break;
        }
        out.push((
            String::from_utf8_lossy(&k[LIBRARY_KEY_PREFIX.len()..]).into_owned(),
            v.to_vec(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_errors_are_redis_s() {
        assert_eq!(
            parse_metadata(b"#!lua name=lib1\nreturn 1"),
            Ok(Metadata {
                name: "lib1".into(),
                code_start: 15
            })
        );
        let err = |c: &[u8]| parse_metadata(c).unwrap_err();
        assert_eq!(err(b"return 1"), "ERR Missing library metadata");
        assert_eq!(err(b"#!lua\nreturn 1"), "ERR Library name was not given");
        assert_eq!(err(b"#!lua name=lib1"), "ERR Invalid library metadata");
        assert_eq!(
            err(b"#!lua name=lib1 foo=bar\n"),
            "ERR Invalid metadata value given: foo=bar"
        );
        assert_eq!(err(b"#!nolua name=lib1\n"), "ERR Engine 'nolua' not found");
        assert!(err(b"#!lua name=a-b\n").starts_with("ERR Library names can only"));
        assert!(valid_name("a_1") && !valid_name("") && !valid_name("a b"));
    }

    #[test]
    fn load_replace_delete_and_restore_keep_the_store_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::Config {
            dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let store = Store::open(&cfg).unwrap();
        let reg = Registry::default();
        let lib = |name: &str, f: &str| Library {
            name: name.into(),
            code: format!("#!lua name={name}\n-- {f}").into_bytes(),
            functions: vec![FunctionInfo {
                name: f.into(),
                description: None,
                flags: 0,
            }],
        };
        reg.load(&store, lib("a", "f"), false).unwrap();
        assert_eq!(
            reg.load(&store, lib("a", "g"), false).unwrap_err(),
            "ERR Library 'a' already exists"
        );
        assert_eq!(
            reg.load(&store, lib("b", "f"), false).unwrap_err(),
            "ERR Function f already exists"
        );
        reg.load(&store, lib("a", "g"), true).unwrap();
        assert!(reg.function("f").is_none() && reg.function("g").is_some());
        reg.load(&store, lib("b", "h"), false).unwrap();
        assert_eq!(stored(&store).unwrap().len(), 2);
        reg.delete(&store, "b").unwrap();
        assert_eq!(
            reg.delete(&store, "b").unwrap_err(),
            "ERR Library not found"
        );
        assert_eq!(stored(&store).unwrap().len(), 1);
        // RESTORE: APPEND refuses an existing library, REPLACE swaps it, FLUSH starts over.
        assert_eq!(
            reg.restore(&store, vec![lib("a", "x")], RestorePolicy::Append)
                .unwrap_err(),
            "ERR Library a already exists"
        );
        reg.restore(&store, vec![lib("a", "x")], RestorePolicy::Replace)
            .unwrap();
        assert!(reg.function("x").is_some() && reg.function("g").is_none());
        reg.restore(&store, vec![lib("c", "y")], RestorePolicy::Flush)
            .unwrap();
        assert_eq!(reg.counts(), (1, 1));
        let names: Vec<String> = stored(&store)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["c".to_string()]);
        reg.flush(&store).unwrap();
        assert!(stored(&store).unwrap().is_empty());
        assert_eq!(reg.counts(), (0, 0));
    }
}
