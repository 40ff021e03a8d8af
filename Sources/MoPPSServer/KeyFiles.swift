import MoPPSEngine
import MoPPSPlatform
import ZeroMQ

/// CurveZMQ key files: one Z85 key per line (its first word; the rest of the line is free text),
/// blank lines and lines starting with # ignored. (# is a Z85 character, so it only starts a comment
/// at the beginning of a line.)
public enum KeyFiles {
  /// The keys in `path`, in file order without repeats. A line that is not a Z85 key is refused
  /// rather than skipped: a typo must not silently drop a trainer (or, for an allow list, leave it
  /// empty).
  public static func readKeys(_ path: String, flag: String) throws(MoPPSError) -> [String] {
    guard let bytes = readFile(path) else {
      throw MoPPSError(.invalidArgument, "\(flag) \(path): cannot read the file: \(errnoText(errno))")
    }
    var keys: [String] = []
    var seen = Set<String>()
    let lines = String(decoding: bytes, as: UTF8.self).split(
      omittingEmptySubsequences: false, whereSeparator: \.isNewline)
    for (number, line) in lines.enumerated() {
      guard let first = line.split(whereSeparator: \.isWhitespace).first, !first.hasPrefix("#") else {
        continue
      }
      let key = String(first)
      guard Curve.decode(key) != nil else {
        throw MoPPSError(
          .invalidArgument,
          "\(flag) \(path) line \(number + 1): \"\(key.prefix(60))\" is not a Z85 key (40 characters)")
      }
      if seen.insert(key).inserted { keys.append(key) }
    }
    return keys
  }

  /// The allow list of `--curve-allow`: at least one key. An empty list cannot mean "everyone"
  /// (leaving out the flag says that), and allowing nobody would only make a server no trainer can
  /// reach, so it is refused.
  public static func readAllowList(_ path: String) throws(MoPPSError) -> [String] {
    let keys = try readKeys(path, flag: "--curve-allow")
    guard !keys.isEmpty else {
      throw MoPPSError(
        .invalidArgument,
        "--curve-allow \(path): the file lists no client public key; add one per line "
          + "(the .pub file of `moppsd keygen`) or leave out --curve-allow to let in every client "
          + "that knows the server's public key")
    }
    return keys
  }

  /// The one secret key in `path`.
  public static func readSecretKey(_ path: String) throws(MoPPSError) -> String {
    let keys = try readKeys(path, flag: "--curve-secret-key")
    guard keys.count == 1 else {
      throw MoPPSError(
        .invalidArgument,
        "--curve-secret-key \(path): expected exactly one key, found \(keys.count); "
          + "use the .key file `moppsd keygen` writes")
    }
    return keys[0]
  }

  /// Warns when other users can read the secret key file. The server still starts: the key is
  /// exposed already, and refusing would only stop the service.
  public static func warnIfReadableByOthers(secretKey path: String) {
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return }
    Log.warning(
      "--curve-secret-key \(path) is readable by other users (mode \(String(info.st_mode & 0o777, radix: 8))): "
        + "chmod 600 it, and make a new key pair if others could have read it")
  }

  private static func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n >= 0 else { return nil }
      if n == 0 { return bytes }
      // Key files are small; a huge one is not a key file.
      guard bytes.count + n <= 1 << 20 else {
        errno = EFBIG
        return nil
      }
      bytes += chunk[0..<n]
    }
  }

  /// Writes `PREFIX.key` (mode 0600) and `PREFIX.pub` (0644). The secret file is created with its
  /// final mode by open(2) itself, so no other user can ever open it; an existing file is refused
  /// unless `overwrite`, and then replaced by renaming a new private file over it (the old inode,
  /// which others may have open, never receives the secret).
  public static func writeKeyPair(_ pair: Curve.KeyPair, prefix: String, overwrite: Bool) throws(MoPPSError) {
    let files = [(prefix + ".key", pair.secretKey, mode_t(0o600)), (prefix + ".pub", pair.publicKey, 0o644)]
    if !overwrite {
      for (path, _, _) in files {
        var info = stat()
        if lstat(path, &info) == 0 {
          throw MoPPSError(.alreadyExists, "\(path) exists; pass --force to overwrite it")
        }
      }
    }
    for (path, content, mode) in files {
      try writeNew(path, Array((content + "\n").utf8), mode: mode, replacing: overwrite)
    }
  }

  private static func writeNew(_ path: String, _ bytes: [UInt8], mode: mode_t, replacing: Bool)
    throws(MoPPSError)
  {
    // O_EXCL also refuses a symlink planted at the path; with `replacing` the new file gets a
    // unique name next to the target and is renamed over it.
    let target = replacing ? path + ".tmp-\(getpid())" : path
    let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else {
      let reason = errnoText(errno)
      if errno == EEXIST {
        throw MoPPSError(.alreadyExists, "\(target) exists; pass --force to overwrite it")
      }
      throw MoPPSError(.internal, "cannot create \(target): \(reason)")
    }
    var written = 0
    while written < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        let reason = errnoText(errno)
        close(fd)
        unlink(target)
        throw MoPPSError(.internal, "cannot write \(target): \(reason)")
      }
      written += n
    }
    let synced = fsync(fd) == 0
    close(fd)
    guard synced, !replacing || rename(target, path) == 0 else {
      let reason = errnoText(errno)
      unlink(target)
      throw MoPPSError(.internal, "cannot write \(path): \(reason)")
    }
  }
}
