//! Gives back the memory the idle tray app holds but does not use.
//!
//! Loading GTK, WebKitGTK and their libraries touches about 50 MB of their file pages (symbol
//! tables, relocations, the speech voices WebKitGTK links), and the app's own binary adds
//! 12 MB more, though the tray process never shows a web view (the window has a process of
//! its own). The idle tray uses a few MB of all that. Shortly after start-up it asks the
//! kernel to reclaim the file-backed pages of its mappings now (`MADV_PAGEOUT`), as memory
//! pressure would later: pages another process also maps are left alone, and a page the app
//! touches again comes back from the page cache. Freed heap is returned to the system
//! (`malloc_trim`). Nothing changes what the app does; it only stops holding what it does not
//! use.

/// The address ranges of the file-backed mappings in a `/proc/PID/maps` text: the libraries
/// and the binary. Anonymous memory, the heap, stacks and the kernel's `[vdso]`-like areas
/// are left out (without swap they cannot be paged out anyway).
pub fn file_mappings(maps: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let path = fields.nth(4)?;
            if !path.starts_with('/') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
        .collect()
}

/// Pages out this process's file-backed mappings and trims the heap. Returns how many
/// mappings the kernel accepted, or the error reading `/proc/self/maps`.
#[cfg(target_os = "linux")]
pub fn release_idle_memory() -> std::io::Result<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut accepted = 0;
    for (start, end) in file_mappings(&maps) {
        // SAFETY: the range is one of this process's own mappings, page-aligned as the kernel
        // lists it. MADV_PAGEOUT is advice to reclaim: it never changes the mapping's contents
        // (dirty private pages without swap are skipped), so no reader can see a difference.
        let done =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        // A mapping that went away meanwhile, or a kernel before 5.4, refuses: nothing lost.
        accepted += usize::from(done == 0);
    }
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe { libc::malloc_trim(0) };
    Ok(accepted)
}

/// Elsewhere the operating system trims idle apps itself.
#[cfg(not(target_os = "linux"))]
pub fn release_idle_memory() -> std::io::Result<usize> {
    Ok(0)
}

#[cfg(all(test, target_os = "linux"))]
#[path = "../../tests/support/own_mapping.rs"]
mod own_mapping;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_backed_mappings_are_listed() {
        let maps = "\
55d0c0a00000-55d0c0b00000 r--p 00000000 08:01 1234   /usr/bin/redline-desktop
55d0c1000000-55d0c1200000 rw-p 00000000 00:00 0      [heap]
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
7f1000000000-7f1000400000 r-xp 00010000 08:01 99     /usr/lib/x86_64-linux-gnu/libgtk-3.so.0 (deleted)
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0      [stack]
7ffd10000000-7ffd10002000 r-xp 00000000 00:00 0      [vdso]
not a mapping line
";
        assert_eq!(
            file_mappings(maps),
            [
                (0x55d0c0a00000, 0x55d0c0b00000),
                (0x7f1000000000, 0x7f1000400000)
            ]
        );
        assert!(file_mappings("").is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn releasing_pages_out_file_pages_and_they_read_the_same_after() {
        let contents: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let mapping = super::own_mapping::OwnMapping::of(&contents);
        assert!(mapping.bytes() == contents, "read once: every page mapped");
        let before = mapping.rss_kb();
        assert!(before > 0);
        let accepted = release_idle_memory().unwrap();
        assert!(accepted > 0, "no mapping was paged out");
        // The kernel may keep the few pages still in a CPU's batch on their way to its lists.
        let after = mapping.rss_kb();
        assert!(after <= before / 2, "its pages: {before} kB -> {after} kB");
        assert!(
            mapping.bytes() == contents,
            "and read the same when used again"
        );
    }
}
