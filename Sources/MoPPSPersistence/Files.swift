import Foundation
import MoPPSEngine
import MoPPSPlatform

/// Small POSIX file helpers; every failure goes through `syscall` and becomes a PersistenceError
/// naming the path and errno.
enum Files {
  static func makeDirectory(_ path: String) throws(PersistenceError) {
    do {
      try syscall("cannot create directory \(path)") { mkdir(path, 0o755) }
    } catch  where error.errno == EEXIST {}
  }

  static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  static func name(of path: String) -> String { String(path.split(separator: "/").last ?? "") }

  /// Flags for opening a state file: never follow a symbolic link planted in its place, and never
  /// block in open(2) (a FIFO would wait for a writer forever, wedging the thread).
  private static let safeRead = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK

  /// Reads a whole regular file; `display` is the name errors show (relative to the state directory,
  /// so that replies never reveal where it lives).
  static func read(_ path: String, display: String? = nil) throws(PersistenceError) -> [UInt8] {
    let shown = display ?? path
    let fd = try syscall("cannot open \(shown)") { open(path, safeRead) }
    defer { close(fd) }
    return try readAll(fd, shown, limit: nil)
  }

  /// Reads a regular file's bytes (at most `limit`) from an open descriptor; anything else (a FIFO,
  /// a device, a directory) is refused without reading.
  private static func readAll(_ fd: Int32, _ shown: String, limit: Int?) throws(PersistenceError) -> [UInt8] {
    var st = stat()
    try syscall("cannot stat \(shown)") { fstat(fd, &st) }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw PersistenceError("\(shown) is not a regular file") }
    let size = min(Int(st.st_size), limit ?? .max)
    var out = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
      let n = try syscall("cannot read \(shown)") {
        out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
      }
      guard n > 0 else {
        if limit != nil { return Array(out.prefix(done)) }
        throw PersistenceError("cannot read \(shown): unexpected end", kind: .io)
      }
      done += n
    }
    return out
  }

  /// Opens `root/c1/c2/…` one component at a time without following a symbolic link anywhere below
  /// `root`, so that a link planted in the state directory cannot lead outside it. Returns nil when
  /// a component does not exist.
  private static func openBeneath(_ root: String, _ components: [String], last flags: Int32)
    throws(PersistenceError)
    -> Int32?
  {
    var dirFD = try syscall("cannot open the state directory") {
      open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }
    defer { if dirFD >= 0 { close(dirFD) } }
    let shown = components.joined(separator: "/")
    for (i, component) in components.enumerated() {
      let isLast = i == components.count - 1
      let fd: Int32
      do {
        fd = try syscall("cannot open \(shown)") {
          openat(dirFD, component, isLast ? flags : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
      } catch {
        if error.errno == ENOENT { return nil }
        if error.errno == ELOOP || error.errno == ENOTDIR {
          throw error.reworded("\(shown): a component is not a plain file or directory (a symbolic link?)")
        }
        throw error
      }
      close(dirFD)
      dirFD = isLast ? -1 : fd
      if isLast { return fd }
    }
    return nil
  }

  /// Reads the regular file `root/components…` (at most `prefix` bytes); nil when it does not exist.
  static func readRegular(beneath root: String, _ components: [String], prefix: Int? = nil)
    throws(PersistenceError)
    -> [UInt8]?
  {
    guard let fd = try openBeneath(root, components, last: safeRead) else { return nil }
    defer { close(fd) }
    return try readAll(fd, components.joined(separator: "/"), limit: prefix)
  }

  static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(PersistenceError) {
    var done = 0
    while done < bytes.count {
      done += try syscall("cannot write \(path)") {
        bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
      }
    }
  }

  private static let temporariesLock = WriterLock<Int>(0)

  /// A temporary name beside `path` that no other writer uses (two Snapshots of one tag at once
  /// must not share one); `removeStaleTemporaries` recognises it.
  private static func temporaryName(for path: String) -> String {
    let n = temporariesLock.withLock { (n: inout Int) -> Int in
      n += 1
      return n
    }
    return path + ".\(getpid())-\(n).tmp"
  }

  /// Deletes what an interrupted write left (`*.tmp`) in these directories; returns the names. Only
  /// at start-up, when the directory lock says no other process writes there.
  static func removeStaleTemporaries(in directories: [String]) -> [String] {
    var removed: [String] = []
    for dir in directories {
      for name in list(dir) where name.hasSuffix(".tmp") && unlink(dir + "/" + name) == 0 {
        removed.append(name)
      }
    }
    return removed
  }

  /// Real subdirectories of `path` (symbolic links are not followed), as paths.
  static func subdirectories(of path: String) -> [String] {
    list(path).compactMap { name in
      var st = stat()
      guard lstat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
      return path + "/" + name
    }
  }

  /// Writes `root/dir…/file` atomically, creating the directories, never through a symbolic link.
  static func writeAtomically(beneath root: String, _ components: [String], _ bytes: [UInt8])
    throws(PersistenceError)
  {
    var path = root
    for dir in components.dropLast() {
      path += "/" + dir
      try makeDirectory(path)
      var st = stat()
      guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
        throw PersistenceError("\(components.dropLast().joined(separator: "/")) is not a plain directory")
      }
    }
    try writeAtomically(path + "/" + components.last!, bytes, display: components.joined(separator: "/"))
  }

  /// Writes a whole file so that a crash leaves either the old file or the new one: temp file,
  /// fsync, rename over the target, fsync of the directory.
  static func writeAtomically(_ path: String, _ bytes: [UInt8], display: String? = nil)
    throws(PersistenceError)
  {
    let tmp = temporaryName(for: path)
    let shownTmp = display.map { $0 + ".tmp" } ?? tmp
    let fd = try syscall("cannot create \(shownTmp)") {
      open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
    }
    do throws(PersistenceError) {
      try writeAll(fd, bytes, shownTmp)
      try syscall("cannot fsync \(shownTmp)") { fsync(fd) }
    } catch {
      close(fd)
      unlink(tmp)
      throw error
    }
    close(fd)
    do {
      try syscall("cannot rename \(shownTmp) to \(display ?? path)") { rename(tmp, path) }
    } catch {
      unlink(tmp)
      throw error
    }
    try syncDirectory(parent(of: path))
  }

  /// Takes the state directory's lock: flock on the directory itself, which (unlike a lock file)
  /// no one can delete to let a second server in. Returns the descriptor that holds it.
  static func lockDirectory(_ dir: String) throws(PersistenceError) -> Int32 {
    let fd = try syscall("cannot open \(dir)") { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    do {
      try syscall("cannot lock \(dir)") { flock(fd, LOCK_EX | LOCK_NB) }
    } catch {
      close(fd)
      throw error.reworded(
        "\(dir) is in use by another moppsd (the directory is locked); use another --state-dir")
    }
    return fd
  }

  /// Whether a server holds the directory's lock.
  static func isDirectoryLocked(_ dir: String) -> Bool {
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return true }
    flock(fd, LOCK_UN)
    return false
  }

  static func syncDirectory(_ path: String) throws(PersistenceError) {
    let fd = try syscall("cannot open directory \(path)") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(fd) }
    try syscall("cannot fsync directory \(path)") { fsync(fd) }
  }

  static func parent(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  /// Names in a directory (not . or ..), sorted; empty when it does not exist.
  static func list(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
  }

  static func size(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
  }
}
