//! Rollback of a half-done attach: every pin and folder an attach creates is
//! recorded, and removed again (newest first) unless the attach completes.
//! Removing a pin drops the kernel's reference, so a map or link only this
//! attach held is freed and the program detached.

use std::path::PathBuf;

/// What an attach created so far.
#[derive(Debug, Default)]
pub(crate) struct Undo {
    created: Vec<PathBuf>,
    done: bool,
}

impl Undo {
    /// Records a pin or folder this attach created.
    pub(crate) fn created(&mut self, path: impl Into<PathBuf>) {
        self.created.push(path.into());
    }

    /// The attach completed: keep everything.
    pub(crate) fn commit(mut self) {
        self.done = true;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for p in self.created.iter().rev() {
            let gone = if p.is_dir() {
                std::fs::remove_dir(p)
            } else {
                std::fs::remove_file(p)
            };
            match gone {
                Ok(()) => tracing::debug!(path = %p.display(), "attach failed: removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %p.display(), "attach failed; cannot remove: {e}"),
            }
        }
    }
}

/// Where [`crate::Steering::attach_failing`] fails on purpose, so tests can
/// check that a failed attach leaves nothing attached or pinned.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailAt {
    /// Nowhere: a normal attach.
    Nowhere,
    /// After the maps are pinned, before the program is attached.
    MapsPinned,
    /// After the program is attached, before its link is pinned.
    Attached,
    /// After the link is pinned, at the very end.
    LinkPinned,
}

impl FailAt {
    pub(crate) fn check(self, here: FailAt) -> Result<(), crate::Error> {
        if self == here {
            Err(crate::Error::Injected(here))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("lanes-undo-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn an_unfinished_attach_removes_what_it_created_and_nothing_else() {
        let root = tmp("drop");
        std::fs::create_dir_all(root.join("maps")).expect("mkdir");
        std::fs::write(root.join("maps/old"), b"").expect("old pin");
        {
            let mut u = Undo::default();
            let links = root.join("links");
            std::fs::create_dir(&links).expect("mkdir");
            u.created(&links);
            std::fs::write(root.join("maps/new"), b"").expect("new pin");
            u.created(root.join("maps/new"));
            std::fs::create_dir(links.join("eth0")).expect("mkdir");
            u.created(links.join("eth0"));
            std::fs::write(links.join("eth0/native"), b"").expect("link pin");
            u.created(links.join("eth0/native"));
        }
        assert!(!root.join("links").exists(), "links/ left behind");
        assert!(!root.join("maps/new").exists(), "new map pin left behind");
        assert!(
            root.join("maps/old").exists(),
            "a pin from before was removed"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_completed_attach_keeps_everything() {
        let root = tmp("commit");
        let mut u = Undo::default();
        std::fs::create_dir_all(&root).expect("mkdir");
        u.created(&root);
        u.commit();
        assert!(root.exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn failpoints_fire_only_where_asked() {
        assert!(FailAt::Nowhere.check(FailAt::MapsPinned).is_ok());
        let e = FailAt::Attached.check(FailAt::Attached).expect_err("fires");
        assert!(e.to_string().contains("injected"), "{e}");
    }
}
