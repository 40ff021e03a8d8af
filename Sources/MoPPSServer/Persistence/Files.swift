import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Small POSIX file helpers; every failure becomes a PersistenceError naming the path and errno.
enum Files {
  static func errorText() -> String { String(cString: strerror(errno)) }

  static func makeDirectory(_ path: String) throws(PersistenceError) {
    if mkdir(path, 0o755) != 0 && errno != EEXIST {
      throw PersistenceError("cannot create directory \(path): \(errorText())")
    }
  }

  static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  static func read(_ path: String) throws(PersistenceError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw PersistenceError("cannot open \(path): \(errorText())") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw PersistenceError("cannot stat \(path): \(errorText())") }
    let size = Int(st.st_size)
    var out = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
      let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw PersistenceError("cannot read \(path): \(n == 0 ? "unexpected end" : errorText())")
      }
      done += n
    }
    return out
  }

  /// Reads at most `count` bytes from the start of a file.
  static func readPrefix(_ path: String, _ count: Int) throws(PersistenceError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw PersistenceError("cannot open \(path): \(errorText())") }
    defer { close(fd) }
    var out = [UInt8](repeating: 0, count: count)
    let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, 0) }
    guard n >= 0 else { throw PersistenceError("cannot read \(path): \(errorText())") }
    return Array(out.prefix(n))
  }

  static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(PersistenceError) {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw PersistenceError("cannot write \(path): \(errorText())") }
      done += n
    }
  }

  /// Writes a whole file so that a crash leaves either the old file or the new one: temp file,
  /// fsync, rename over the target, fsync of the directory.
  static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(PersistenceError) {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw PersistenceError("cannot create \(tmp): \(errorText())") }
    do throws(PersistenceError) {
      try writeAll(fd, bytes, tmp)
      guard fsync(fd) == 0 else { throw PersistenceError("cannot fsync \(tmp): \(errorText())") }
    } catch {
      close(fd)
      unlink(tmp)
      throw error
    }
    close(fd)
    guard rename(tmp, path) == 0 else {
      unlink(tmp)
      throw PersistenceError("cannot rename \(tmp) to \(path): \(errorText())")
    }
    try syncDirectory(parent(of: path))
  }

  static func syncDirectory(_ path: String) throws(PersistenceError) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw PersistenceError("cannot open directory \(path): \(errorText())") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw PersistenceError("cannot fsync directory \(path): \(errorText())") }
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
