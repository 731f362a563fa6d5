//! Owner-only modes for what the store writes on Unix: 0700 directories and
//! 0600 files, because the store contains tenant data and encrypted credentials
//! that no other local user should read. Other platforms keep their defaults.

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700. A directory that
/// already exists keeps its mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Sets mode 0700 on `dir` and every directory below it, and 0600 on every
/// file, so a store written by a process with a looser umask is tightened
/// when it is next opened. Symbolic links are left alone and not followed.
#[cfg(unix)]
pub fn restrict_to_owner(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;

    let metadata = std::fs::symlink_metadata(dir)?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    if metadata.is_dir() {
        set_mode(dir, &metadata, 0o700)?;
        for entry in std::fs::read_dir(dir)? {
            restrict_to_owner(&entry?.path())?;
        }
    } else {
        set_mode(dir, &metadata, 0o600)?;
    }
    return Ok(());

    fn set_mode(path: &Path, metadata: &std::fs::Metadata, mode: u32) -> io::Result<()> {
        if metadata.permissions().mode() & 0o777 == mode {
            return Ok(());
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
}

#[cfg(not(unix))]
pub fn restrict_to_owner(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn loose_modes_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("store");
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        std::fs::write(store.join("db"), b"x").unwrap();
        std::fs::write(store.join("blobs").join("1"), b"x").unwrap();
        for (path, loose) in [(&store, 0o755), (&store.join("blobs"), 0o777), (&store.join("db"), 0o644), (&store.join("blobs").join("1"), 0o666)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(loose)).unwrap();
        }

        restrict_to_owner(&store).unwrap();

        assert_eq!(mode(&store), 0o700);
        assert_eq!(mode(&store.join("blobs")), 0o700);
        assert_eq!(mode(&store.join("db")), 0o600);
        assert_eq!(mode(&store.join("blobs").join("1")), 0o600);
    }

    #[test]
    fn new_private_dir_is_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("b");

        create_private_dir(&dir).unwrap();

        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
    }
}
