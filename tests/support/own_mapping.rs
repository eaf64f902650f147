//! For tests of code that gives memory back to the system (the engine's `serve::resident`, the
//! desktop app's `footprint`), included by both with `#[path]`: a test-only helper is not worth
//! a public API between the crates.

/// A file of the test's own, on disk, mapped read-only with every page read once. What the
/// process keeps of it depends on nothing but the test: the process's total file pages move
/// with every other test running beside it (and their proportional share with every other
/// process mapping the same libraries), which made a before-and-after of those fail on a
/// busy machine.
pub struct OwnMapping {
    start: *const u8,
    len: usize,
    _file: tempfile::NamedTempFile,
}

impl OwnMapping {
    pub fn of(contents: &[u8]) -> OwnMapping {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        // Beside the test binary, not in /tmp: tmpfs pages cannot be paged out without swap.
        let exe = std::env::current_exe().unwrap();
        let mut file = tempfile::NamedTempFile::new_in(exe.parent().unwrap()).unwrap();
        file.write_all(contents).unwrap();
        // Written out, so its pages are clean and can be reclaimed without a write.
        file.as_file().sync_all().unwrap();
        // SAFETY: a new private read-only mapping of a file this test owns and no one
        // writes; unmapped in Drop.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                contents.len(),
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_file().as_raw_fd(),
                0,
            )
        };
        assert_ne!(start, libc::MAP_FAILED);
        OwnMapping {
            start: start.cast(),
            len: contents.len(),
            _file: file,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping lives as long as self and is `len` bytes long.
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }

    /// Its resident size in this process's page tables, from `/proc/self/smaps`.
    pub fn rss_kb(&self) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let header = format!("\n{:x}-", self.start as usize);
        let (_, block) = smaps.split_once(&header).unwrap();
        block
            .lines()
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for OwnMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `of`, unmapped once.
        unsafe { libc::munmap(self.start as *mut libc::c_void, self.len) };
    }
}
