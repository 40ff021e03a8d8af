import ZeroMQ

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// CurveZMQ key files.
public enum KeyFiles {
  /// Writes `PREFIX.key` (mode 0600) and `PREFIX.pub` (0644). The secret file is created with its
  /// final mode by open(2) itself, so no other user can ever open it; an existing file is refused
  /// unless `overwrite`, and then replaced by renaming a new private file over it (the old inode,
  /// which others may have open, never receives the secret).
  public static func writeKeyPair(_ pair: Curve.KeyPair, prefix: String, overwrite: Bool) throws(ServerError)
  {
    let files = [(prefix + ".key", pair.secretKey, mode_t(0o600)), (prefix + ".pub", pair.publicKey, 0o644)]
    if !overwrite {
      for (path, _, _) in files {
        var info = stat()
        if lstat(path, &info) == 0 { throw ServerError("\(path) exists; pass --force to overwrite it") }
      }
    }
    for (path, content, mode) in files {
      try writeNew(path, Array((content + "\n").utf8), mode: mode, replacing: overwrite)
    }
  }

  private static func writeNew(_ path: String, _ bytes: [UInt8], mode: mode_t, replacing: Bool)
    throws(ServerError)
  {
    // O_EXCL also refuses a symlink planted at the path; with `replacing` the new file gets a
    // unique name next to the target and is renamed over it.
    let target = replacing ? path + ".tmp-\(getpid())" : path
    let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else {
      let reason = String(cString: strerror(errno))
      if errno == EEXIST { throw ServerError("\(target) exists; pass --force to overwrite it") }
      throw ServerError("cannot create \(target): \(reason)")
    }
    var written = 0
    while written < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        unlink(target)
        throw ServerError("cannot write \(target): \(reason)")
      }
      written += n
    }
    let synced = fsync(fd) == 0
    close(fd)
    guard synced, !replacing || rename(target, path) == 0 else {
      let reason = String(cString: strerror(errno))
      unlink(target)
      throw ServerError("cannot write \(path): \(reason)")
    }
  }
}
