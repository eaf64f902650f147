//! Lets go of the file pages starting up touched.
//!
//! Starting the engine runs code the proxy never runs again (the command line, the config and
//! keyring reads over D-Bus, the history's schema), and the kernel maps each page the process
//! touches together with its neighbours in the page cache (fault-around, 64 KiB at a time):
//! about 16 MiB of the 28 MiB binary end up counted in the daemon's resident memory, most of it
//! never used again. Once the engine has settled, the pages of its read-only file mappings
//! (code and read-only data) are taken out of its page tables with `MADV_DONTNEED`. They stay in
//! the page cache: the next use of one is a minor fault that maps it again from memory, with
//! no disk read and no change to what the process sees, because a mapping is only dropped when
//! none of its pages is a private copy (`Anonymous: 0 kB` in `/proc/self/smaps`: relocated
//! read-only data, say, is left alone).

/// The address ranges in a `/proc/PID/smaps` text whose pages read the same from the file
/// after being dropped: file-backed (a path), not writable, and without a private copy-on-write
/// page (`Anonymous: 0 kB`).
pub fn droppable(smaps: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    // The mapping being read: its range, whether it qualifies so far.
    let mut current: Option<((usize, usize), bool)> = None;
    let mut finish = |current: &mut Option<((usize, usize), bool)>| {
        if let Some((range, true)) = current.take() {
            found.push(range);
        }
    };
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line) {
            finish(&mut current);
            current = Some(header);
        } else if let Some(anonymous) = line.strip_prefix("Anonymous:")
            && let Some((_, ok)) = &mut current
        {
            *ok &= anonymous.trim().trim_end_matches("kB").trim() == "0";
        }
    }
    finish(&mut current);
    found
}

/// A mapping's first line (`start-end perms offset dev inode [path]`): its range, and whether
/// it may qualify (read-only and backed by a file).
fn mapping_header(line: &str) -> Option<((usize, usize), bool)> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    if perms.len() != 4 || !perms.starts_with(['r', '-']) {
        return None;
    }
    let path = fields.nth(3).unwrap_or("");
    let qualifies = !perms.contains('w') && path.starts_with('/') && end > start;
    Some(((start, end), qualifies))
}

/// Drops this process's read-only file pages from its page tables (see the module); the number
/// of mappings dropped, or the error reading `/proc/self/smaps`.
#[cfg(target_os = "linux")]
pub fn drop_file_pages() -> std::io::Result<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut dropped = 0;
    for (start, end) in droppable(&smaps) {
        // SAFETY: the range is one of this process's own mappings, page-aligned as the kernel
        // lists it, read-only and without private pages: after MADV_DONTNEED its pages fault
        // in again from the same file with the same contents.
        let done =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        dropped += usize::from(done == 0);
    }
    Ok(dropped)
}

#[cfg(not(target_os = "linux"))]
pub fn drop_file_pages() -> std::io::Result<usize> {
    Ok(0)
}

#[cfg(all(test, target_os = "linux"))]
#[path = "../../tests/support/own_mapping.rs"]
mod own_mapping;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_file_mappings_without_private_pages_are_dropped() {
        let smaps = "\
55d0c0a00000-55d0c0b00000 r--p 00000000 08:01 1234   /usr/bin/redline
Rss:                 400 kB
Anonymous:             0 kB
55d0c0b00000-55d0c0c00000 r-xp 00100000 08:01 1234   /usr/bin/redline
Rss:                9000 kB
Anonymous:             0 kB
55d0c0c00000-55d0c0c10000 r--p 00200000 08:01 1234   /usr/bin/redline
Rss:                  64 kB
Anonymous:            64 kB
55d0c0c10000-55d0c0c20000 rw-p 00210000 08:01 1234   /usr/bin/redline
Anonymous:             0 kB
55d0c1000000-55d0c1200000 rw-p 00000000 00:00 0      [heap]
Anonymous:           512 kB
7f0000000000-7f0000021000 r--p 00000000 00:00 0
Anonymous:             0 kB
7f1000000000-7f1000400000 r-xp 00010000 08:01 99     /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f1000400000-7f1000401000 r--s 00000000 08:01 77     /tmp/shared (deleted)
Anonymous:             0 kB
7ffd10000000-7ffd10002000 r-xp 00000000 00:00 0      [vdso]
Anonymous:             0 kB
";
        assert_eq!(
            droppable(smaps),
            [
                (0x55d0c0a00000, 0x55d0c0b00000),
                (0x55d0c0b00000, 0x55d0c0c00000),
                (0x7f1000000000, 0x7f1000400000),
                (0x7f1000400000, 0x7f1000401000),
            ],
            "not the relocated read-only data (private pages), the writable data, the heap, \
             anonymous or kernel mappings"
        );
        assert!(droppable("").is_empty());
        assert!(droppable("not a mapping line\nAnonymous: 0 kB\n").is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dropping_takes_read_only_file_pages_out_and_they_read_the_same_after() {
        let contents: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        let mapping = super::own_mapping::OwnMapping::of(&contents);
        assert!(mapping.bytes() == contents, "read once: every page mapped");
        assert!(mapping.rss_kb() > 0);
        let dropped = drop_file_pages().unwrap();
        assert!(dropped > 0, "no mapping was dropped");
        assert_eq!(mapping.rss_kb(), 0, "its pages left the page tables");
        assert!(
            mapping.bytes() == contents,
            "and read the same from the page cache"
        );
    }
}
