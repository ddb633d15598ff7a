//! A process tree from /proc: a process and its descendants (a server may be several
//! processes, as gunicorn's arbiter and the worker it forks), their CPU time, RSS and
//! threads summed over the tree.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

/// /proc reports CPU time in USER_HZ ticks, which the Linux ABI fixes at 100 per second
/// (what `getconf CLK_TCK` prints), whatever the kernel's internal HZ.
const TICKS_PER_SECOND: f64 = 100.0;

/// A walk for descendants reads one children file per thread of every member, which for a
/// thread-per-request server costs a hundred times a reading's stat and status; so after a
/// walk that took `t` the next waits `WALK_SPACING x t`, keeping walks to about 1% of a
/// core, while a tree of a few threads, quick to walk, is walked at every reading.
const WALK_SPACING: u32 = 100;

/// Walks again, at most, when a member reaped a child while the tree was being read.
const REWALKS: usize = 3;

/// One reading of a process tree: sums over the process and its descendants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// CPU time in ticks: each member's utime + stime (all its threads) plus its cutime +
    /// cstime (the children it has reaped), fields 14-17 of /proc/PID/stat. A member that
    /// reaps a child gets the child's whole time added to its cutime/cstime as the child
    /// leaves the tree, so the sum neither drops nor counts it twice: over a window it is
    /// exact and monotonic for members that live through it, and stays so for a child
    /// that exits mid-window and is reaped by a member (its time before the window was in
    /// the first reading; one born and gone between two readings counts whole). A child
    /// reaped outside the tree (reparented to init when its parent died, or auto-reaped
    /// because its parent ignores SIGCHLD) takes its whole time out of the sum: the window
    /// then under-counts (never below 0).
    pub cpu_ticks: u64,
    /// Threads now.
    pub threads: u64,
    /// Resident set size now, KiB. Pages that members share (copy-on-write after a fork,
    /// shared libraries) count once per member, as each process's VmRSS counts them.
    pub rss_kib: u64,
    /// The members' peak resident set sizes (VmHWM, each over its own life), summed, KiB:
    /// an upper bound of the tree's peak, as the members' peaks need not coincide (for a
    /// single process, its peak).
    pub hwm_kib: u64,
    /// Processes in the tree (the root counts).
    pub processes: u64,
}

impl Reading {
    fn add(&mut self, other: &Reading) {
        self.cpu_ticks += other.cpu_ticks;
        self.threads += other.threads;
        self.rss_kib += other.rss_kib;
        self.hwm_kib += other.hwm_kib;
        self.processes += other.processes;
    }
}

/// Reads `pid` and its descendants. An error only when `pid` itself cannot be read: a
/// descendant that vanishes while the tree is read is left out.
pub fn read(pid: u32) -> io::Result<Reading> {
    Tree::new(pid).walk()
}

/// One process, from /proc/PID/stat and /proc/PID/status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    ppid: u32,
    /// Start time, ticks after boot: with the PID it names one process (PIDs are reused).
    start: u64,
    /// A zombie: if its other threads live on, its children are theirs now.
    zombie: bool,
    /// The CPU ticks of the children it has reaped (cutime + cstime).
    reaped: u64,
    reading: Reading,
}

/// `pid`'s stat alone, for what it holds of a [`Proc`] (its status fields left at 0); `None`
/// if it is gone.
fn read_proc_stat(proc: &Path, pid: u32) -> Option<Proc> {
    parse(&std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?, "")
}

fn read_proc(proc: &Path, pid: u32) -> io::Result<Proc> {
    let dir = proc.join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat"))?;
    let status = std::fs::read_to_string(dir.join("status"))?;
    parse(&stat, &status).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unreadable /proc/{pid}")))
}

/// The fields of /proc/PID/stat from field 3 (state) on. The command name (field 2) may
/// hold spaces and parentheses: fields are counted from the last ')'.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect())
}

fn parse(stat: &str, status: &str) -> Option<Proc> {
    let rest = stat_fields(stat)?;
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(Proc {
        ppid: u32::try_from(field(4)?).ok()?,
        start: field(22)?,
        zombie: rest.first() == Some(&"Z"),
        reaped: field(16)? + field(17)?,
        reading: Reading {
            cpu_ticks: field(14)? + field(15)? + field(16)? + field(17)?,
            threads: field(20)?,
            rss_kib: kib("VmRSS:").unwrap_or(0),
            hwm_kib: kib("VmHWM:").unwrap_or(0),
            processes: 1,
        },
    })
}

/// The PIDs a children file lists (space-separated).
fn parse_children(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.split_whitespace().filter_map(|p| p.parse().ok())
}

/// Whether this kernel has /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN), looked up
/// once, on loadgen's own main thread.
fn children_files() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let pid = std::process::id();
        Path::new(&format!("/proc/{pid}/task/{pid}/children")).exists()
    })
}

/// Adds `pid`'s children to `out`, from the children file of each of its threads (a child
/// is listed under the thread that forked it). A file gone or unreadable lists none: its
/// thread has exited.
fn children(proc: &Path, pid: u32, p: &Proc, out: &mut Vec<u32>) {
    let task = proc.join(pid.to_string()).join("task");
    let mut list = |file: PathBuf| {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse_children(&text));
        }
    };
    // A process whose only thread is its leader: one file, without listing the tasks.
    if p.reading.threads <= 1 && !p.zombie {
        list(task.join(pid.to_string()).join("children"));
        return;
    }
    if let Ok(tasks) = std::fs::read_dir(&task) {
        for t in tasks.flatten() {
            list(t.path().join("children"));
        }
    }
}

/// Every process's (PID, parent PID), from /proc/*/stat: how descendants are found where
/// the kernel has no children files. A process that vanishes while scanned is left out.
fn parents(proc: &Path) -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir(proc) else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
            Some((pid, stat_fields(&stat)?.get(1)?.parse().ok()?))
        })
        .collect()
}

/// A member of a [`Tree`] as last read: its PID and start time (together they name one
/// process), and the ticks of the children it had reaped.
#[derive(Debug, Clone, Copy)]
struct Member {
    pid: u32,
    start: u64,
    reaped: u64,
}

impl Member {
    fn of(pid: u32, p: &Proc) -> Self {
        Self { pid, start: p.start, reaped: p.reaped }
    }
}

/// A process and its descendants, read again and again. Every reading reads the members
/// the last walk found; a walk for new ones comes at the first reading and then when due
/// (`WALK_SPACING`), so a small tree is walked each time and a tree of thousands of
/// threads every few seconds. A member found late counts whole, as one born then would.
#[derive(Debug, Clone)]
pub struct Tree {
    /// /proc (a fake one in tests).
    proc: PathBuf,
    root: u32,
    /// The members the last walk found, root first, as last read.
    members: Vec<Member>,
    /// No children files: descendants are found by every process's parent.
    scan: bool,
    next_walk: Instant,
}

impl Tree {
    /// The tree under `root` (nothing is read yet).
    pub fn new(root: u32) -> Self {
        Self::at(Path::new("/proc"), root, !children_files())
    }

    fn at(proc: &Path, root: u32, scan: bool) -> Self {
        Self { proc: proc.to_owned(), root, members: Vec::new(), scan, next_walk: Instant::now() }
    }

    /// The root's PID.
    pub fn root(&self) -> u32 {
        self.root
    }

    /// The PIDs the last walk found, root first (none before the first reading).
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().map(|m| m.pid).collect()
    }

    /// Reads the tree, walking it for new descendants when a walk is due (or when a member
    /// reaped a child while it was read). An error only when the root cannot be read.
    pub fn read(&mut self) -> io::Result<Reading> {
        if Instant::now() < self.next_walk {
            let reading = self.read_members()?;
            if self.settled() {
                return Ok(reading);
            }
        }
        self.walk()
    }

    /// Walks the tree from the root and reads every member. A parent is read before its
    /// children, so a child reaped in between would be in neither reading: when a member's
    /// reaped ticks moved while the tree was read, it is walked again (up to `REWALKS`
    /// times). A child that vanishes between its listing and its reading is left out, as is
    /// one whose PID, already reused, now names a process that is not the child of the one
    /// that listed it.
    pub fn walk(&mut self) -> io::Result<Reading> {
        let mut reading = self.walk_once()?;
        for _ in 0..REWALKS {
            if self.settled() {
                break;
            }
            reading = self.walk_once()?;
        }
        Ok(reading)
    }

    /// Whether no member has reaped a child since it was read (one gone since, or whose
    /// PID names another process now, is its parent's to say).
    fn settled(&self) -> bool {
        self.members.iter().all(|m| match read_proc_stat(&self.proc, m.pid) {
            Some(p) if p.start == m.start => p.reaped == m.reaped,
            _ => true,
        })
    }

    fn walk_once(&mut self) -> io::Result<Reading> {
        let began = Instant::now();
        let root = read_proc(&self.proc, self.root)?;
        let mut total = root.reading;
        self.members.clear();
        self.members.push(Member::of(self.root, &root));
        let parents = self.scan.then(|| parents(&self.proc));
        let (mut queue, mut kids) = (vec![(self.root, root)], Vec::new());
        while let Some((pid, p)) = queue.pop() {
            kids.clear();
            match &parents {
                Some(all) => kids.extend(all.iter().filter(|(_, parent)| *parent == pid).map(|(kid, _)| *kid)),
                None => children(&self.proc, pid, &p, &mut kids),
            }
            for &kid in &kids {
                let Ok(k) = read_proc(&self.proc, kid) else { continue };
                if k.ppid != pid || self.members.iter().any(|m| m.pid == kid) {
                    continue;
                }
                total.add(&k.reading);
                self.members.push(Member::of(kid, &k));
                queue.push((kid, k));
            }
        }
        self.next_walk = Instant::now() + began.elapsed() * WALK_SPACING;
        Ok(total)
    }

    /// Reads the members the last walk found; those gone since (or whose PID now names
    /// another process) are dropped.
    fn read_members(&mut self) -> io::Result<Reading> {
        let root = read_proc(&self.proc, self.root)?;
        let mut total = root.reading;
        let proc = &self.proc;
        self.members.retain_mut(|m| {
            if m.pid == self.root {
                m.reaped = root.reaped;
                return true;
            }
            match read_proc(proc, m.pid) {
                Ok(p) if p.start == m.start => {
                    total.add(&p.reading);
                    m.reaped = p.reaped;
                    true
                }
                _ => false,
            }
        });
        Ok(total)
    }
}

/// The CPU time of the children a process has waited for (its cutime and cstime, fields
/// 16-17 of /proc/PID/stat), ticks: how a tool run to its end is measured, as its own
/// /proc entry is gone once it has been reaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reaped {
    /// User-mode ticks.
    pub user_ticks: u64,
    /// Kernel-mode ticks.
    pub system_ticks: u64,
}

impl Reaped {
    /// The ticks added since `before` (a later reading of the same process).
    pub fn since(self, before: Reaped) -> Reaped {
        Reaped {
            user_ticks: self.user_ticks.saturating_sub(before.user_ticks),
            system_ticks: self.system_ticks.saturating_sub(before.system_ticks),
        }
    }

    /// User and kernel together.
    pub fn total_ticks(self) -> u64 {
        self.user_ticks + self.system_ticks
    }
}

/// The CPU of the children this process has reaped so far: read before and after waiting
/// for one child, and with no other child reaped in between, the difference is that child's
/// (and its own reaped children's) whole CPU time.
pub fn reaped_by_self() -> io::Result<Reaped> {
    parse_reaped(&std::fs::read_to_string("/proc/self/stat")?)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/self/stat"))
}

fn parse_reaped(stat: &str) -> Option<Reaped> {
    let rest = stat_fields(stat)?;
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Reaped { user_ticks: field(16)?, system_ticks: field(17)? })
}

/// CPU ticks (as in [`Reading::cpu_ticks`]) in seconds.
pub fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 7 0 100 1000 300";
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t7\n";
        let p = parse(stat, status).unwrap();
        let reading = Reading { cpu_ticks: 350, threads: 7, rss_kib: 1024, hwm_kib: 2048, processes: 1 };
        assert_eq!(p, Proc { ppid: 1, start: 100, zombie: false, reaped: 50, reading });
        assert!(parse(&stat.replace(") S", ") Z"), status).unwrap().zombie);
        assert_eq!(parse("42 (x) S 1", status), None, "a stat cut short");
    }

    #[test]
    fn the_reaped_childrens_ticks_are_fields_16_and_17() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 7 0 100 1000 300";
        let r = parse_reaped(stat).unwrap();
        assert_eq!(r, Reaped { user_ticks: 30, system_ticks: 20 });
        assert_eq!(r.since(Reaped { user_ticks: 10, system_ticks: 25 }), Reaped { user_ticks: 20, system_ticks: 0 });
        assert_eq!(r.total_ticks(), 50);
        assert_eq!(parse_reaped("42 (x) S 1 2 3"), None, "a stat cut short");
    }

    #[test]
    fn a_child_waited_for_adds_its_cpu_to_our_reaped_ticks() {
        // timeout ends yes (a core's worth of CPU) after 0.3 s and is reaped here; other
        // tests reaping children at the same time only add to the figure.
        let before = reaped_by_self().unwrap();
        let status = std::process::Command::new("timeout")
            .args(["0.3", "yes"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("timeout and yes");
        assert!(!status.success(), "timeout ends yes");
        let used = reaped_by_self().unwrap().since(before);
        assert!(used.total_ticks() >= 5, "{used:?}");
    }

    #[test]
    fn children_files_list_pids() {
        assert_eq!(parse_children("12 345 \n").collect::<Vec<_>>(), [12, 345]);
        assert_eq!(parse_children("").count(), 0);
    }

    /// A fake /proc in the temp directory, removed when dropped.
    struct FakeProc(tempfile::TempDir);

    /// One fake process: its threads are `tasks`, each a TID (the first the PID) and the
    /// children it forked; `ticks` are utime, stime, cutime and cstime.
    struct Fake<'a> {
        pid: u32,
        ppid: u32,
        state: char,
        ticks: [u64; 4],
        tasks: &'a [(u32, &'a [u32])],
        rss: u64,
        hwm: u64,
    }

    impl FakeProc {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            // Not a process: the scan passes over it.
            std::fs::write(dir.path().join("uptime"), "1.0 1.0\n").unwrap();
            Self(dir)
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        fn add(&self, f: &Fake) {
            let dir = self.path().join(f.pid.to_string());
            let _ = std::fs::remove_dir_all(&dir);
            for (tid, kids) in f.tasks {
                let task = dir.join("task").join(tid.to_string());
                std::fs::create_dir_all(&task).unwrap();
                let kids: String = kids.iter().map(|k| format!("{k} ")).collect();
                std::fs::write(task.join("children"), kids).unwrap();
            }
            let ([u, s, cu, cs], n) = (f.ticks, f.tasks.len());
            let stat = format!(
                "{} (fake {}) {} {} 1 1 0 -1 4194560 100 0 0 0 {u} {s} {cu} {cs} 20 0 {n} 0 {} 1000 300\n",
                f.pid,
                f.pid,
                f.state,
                f.ppid,
                1000 + f.pid
            );
            std::fs::write(dir.join("stat"), stat).unwrap();
            let status = format!("Name:\tfake\nVmHWM:\t{} kB\nVmRSS:\t{} kB\nThreads:\t{n}\n", f.hwm, f.rss);
            std::fs::write(dir.join("status"), status).unwrap();
        }

        fn remove(&self, pid: u32) {
            std::fs::remove_dir_all(self.path().join(pid.to_string())).unwrap();
        }
    }

    /// Root 10, two threads: thread 10 forked 11 and 40 (gone before it is read), thread
    /// 12 forked 20; 11 forked 30, and 50, whose PID now names a child of 99.
    fn fake_tree() -> FakeProc {
        let p = FakeProc::new();
        let f = |pid, ppid, ticks, tasks, rss, hwm| Fake { pid, ppid, state: 'S', ticks, tasks, rss, hwm };
        p.add(&f(10, 1, [100, 20, 5, 5], &[(10, &[11, 40]), (12, &[20])], 1000, 2000));
        p.add(&f(11, 10, [50, 10, 0, 0], &[(11, &[30, 50])], 200, 300));
        p.add(&f(20, 10, [7, 3, 0, 0], &[(20, &[])], 300, 400));
        p.add(&f(30, 11, [1, 1, 0, 0], &[(30, &[])], 400, 500));
        p.add(&f(50, 99, [1000, 0, 0, 0], &[(50, &[])], 9000, 9000));
        p.add(&f(99, 1, [0, 0, 0, 0], &[(99, &[50])], 1, 1));
        p
    }

    const FAKE_TREE: Reading = Reading { cpu_ticks: 202, threads: 5, rss_kib: 1900, hwm_kib: 3200, processes: 4 };

    #[test]
    fn a_walk_sums_the_root_and_its_descendants() {
        for scan in [false, true] {
            let p = fake_tree();
            let mut tree = Tree::at(p.path(), 10, scan);
            assert_eq!(tree.walk().unwrap(), FAKE_TREE, "scan: {scan}");
            assert_eq!(tree.pids()[0], 10, "the root first");
            let mut members = tree.pids();
            members.sort_unstable();
            assert_eq!(members, [10, 11, 20, 30], "scan: {scan}");
            assert_eq!(Tree::at(p.path(), 30, scan).walk().unwrap().processes, 1, "a leaf is a tree of one");
            assert!(Tree::at(p.path(), 77, scan).walk().is_err(), "a root that is not there");
        }
    }

    #[test]
    fn a_child_reaped_by_a_member_keeps_the_trees_cpu() {
        let p = fake_tree();
        let mut tree = Tree::at(p.path(), 10, false);
        tree.walk().unwrap();
        // 30 exits and 11 reaps it: its time moves to 11's cutime/cstime.
        p.remove(30);
        p.add(&Fake {
            pid: 11,
            ppid: 10,
            state: 'S',
            ticks: [50, 10, 1, 1],
            tasks: &[(11, &[50])],
            rss: 200,
            hwm: 300,
        });
        let gone = Reading { threads: 4, rss_kib: 1500, hwm_kib: 2700, processes: 3, ..FAKE_TREE };
        assert_eq!(tree.read_members().unwrap(), gone, "between walks");
        assert_eq!(tree.members.len(), 3, "the member gone is dropped");
        assert_eq!(tree.walk().unwrap(), gone);
        p.remove(10);
        assert!(tree.read_members().is_err() && tree.walk().is_err(), "the root gone is an error");
    }

    #[test]
    fn a_member_that_reaped_a_child_since_it_was_read_is_read_again() {
        let p = fake_tree();
        let mut tree = Tree::at(p.path(), 10, false);
        tree.walk().unwrap();
        assert!(tree.settled(), "nothing moved since the walk");
        // 11 reaps 30 after the walk read 11 (30 is still listed and readable, as when the
        // reap falls between a parent's reading and its child's).
        let reaped = Fake {
            pid: 11,
            ppid: 10,
            state: 'S',
            ticks: [50, 10, 1, 1],
            tasks: &[(11, &[30, 50])],
            rss: 200,
            hwm: 300,
        };
        p.add(&reaped);
        assert!(!tree.settled(), "11's reaped ticks moved");
        p.remove(30);
        p.add(&Fake { tasks: &[(11, &[50])], ..reaped });
        let gone = Reading { threads: 4, rss_kib: 1500, hwm_kib: 2700, processes: 3, ..FAKE_TREE };
        assert_eq!(tree.read().unwrap(), gone, "the next reading: 30's ticks once, in 11's");
        assert!(tree.settled());
    }

    #[test]
    fn a_reused_pid_is_not_read_as_the_member_it_was() {
        let p = fake_tree();
        let mut tree = Tree::at(p.path(), 10, false);
        tree.walk().unwrap();
        // 20 exits, and its PID goes to a new process (started later) elsewhere.
        p.add(&Fake { pid: 20, ppid: 99, state: 'S', ticks: [500, 0, 0, 0], tasks: &[(20, &[])], rss: 1, hwm: 1 });
        let stat = p.path().join("20/stat");
        std::fs::write(&stat, std::fs::read_to_string(&stat).unwrap().replace(" 1020 1000 ", " 5000 1000 ")).unwrap();
        assert_eq!(tree.read_members().unwrap().processes, 3);
    }

    #[test]
    fn a_zombie_leaders_children_are_found_under_its_other_threads() {
        let p = FakeProc::new();
        p.add(&Fake { pid: 60, ppid: 1, state: 'Z', ticks: [0; 4], tasks: &[(60, &[]), (61, &[62])], rss: 0, hwm: 0 });
        // A zombie leader counts its live threads only.
        let stat = p.path().join("60/stat");
        std::fs::write(&stat, std::fs::read_to_string(&stat).unwrap().replace(" 20 0 2 0 ", " 20 0 1 0 ")).unwrap();
        p.add(&Fake { pid: 62, ppid: 60, state: 'S', ticks: [3, 0, 0, 0], tasks: &[(62, &[])], rss: 8, hwm: 8 });
        assert_eq!(Tree::at(p.path(), 60, false).walk().unwrap().processes, 2);
    }

    #[test]
    fn a_real_tree_counts_its_childrens_cpu_and_threads() {
        // sh runs timeout, which runs yes (a core's worth of CPU) for 1 s, then sleeps 1 s:
        // everything ends by itself within ~2 s, even if this test fails first.
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "timeout 1 yes > /dev/null; sleep 1"])
            .spawn()
            .expect("sh, timeout and yes");
        let pid = sh.id();
        // The tree's reading once `until` holds, polled; a test failure after 10 s (the tree
        // ends by itself within ~2 s).
        let waited = |what: &str, until: &dyn Fn(&Reading) -> bool| {
            let deadline = Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let r = read(pid).unwrap();
                if until(&r) {
                    return r;
                }
                assert!(Instant::now() < deadline, "not within 10 s: {what}; last reading {r:?}");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        let root_alone = || read_proc(Path::new("/proc"), pid).unwrap().reading.cpu_ticks;
        waited("sh, timeout and yes running", &|r| r.processes == 3);
        let (root_from, first) = (root_alone(), read(pid).unwrap());
        let mut tree = Tree::new(pid);
        let window_from = tree.walk().unwrap();
        // Until yes has burnt its ticks (or has ended: the asserts below then say so).
        let mid = waited("5 ticks of yes", &|r| r.cpu_ticks >= first.cpu_ticks + 5 || r.processes < 3);
        let root_used = root_alone() - root_from;
        // yes is ended and reaped: its time moves to sh's cutime, and the tree keeps it.
        let after = waited("yes ended and reaped", &|r| r.processes < 3);
        let window = tree.walk().unwrap().cpu_ticks - window_from.cpu_ticks;
        sh.wait().unwrap();
        assert_eq!((mid.processes, mid.threads), (3, 3), "{mid:?}");
        let mid_used = mid.cpu_ticks - first.cpu_ticks;
        assert!(mid_used >= 5 && mid_used > root_used, "tree {mid_used} ticks, root alone {root_used}");
        assert!(after.processes < 3 && after.cpu_ticks >= mid.cpu_ticks, "{mid:?} then {after:?}");
        assert!(window >= mid_used, "a walk after the reaping: {window} ticks, {mid_used} before it");
    }
}
