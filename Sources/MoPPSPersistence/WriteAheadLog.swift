import MoPPSPlatform

/// The append-only log of mutations, in files `wal-<first LSN as 16 hex digits>.log` under `dir`.
///
/// File: "MOPPSWAL", version (u32), first LSN (u64), then records framed as
/// [payload length u32][CRC-32C of payload u32][payload]. The LSN of a record is its file's first
/// LSN plus its index there. A new file is started at every snapshot, so older ones can be deleted.
final class WriteAheadLog {
  static let magic: [UInt8] = Array("MOPPSWAL".utf8)
  static var version: UInt32 { StateFormat.current }
  static let headerSize = 20

  let dir: String
  private(set) var fd: Int32 = -1
  private(set) var path = ""
  private(set) var firstLSN: UInt64 = 0
  /// LSN the next appended record gets.
  private(set) var nextLSN: UInt64 = 0
  /// Bytes in the current file: where a failed append is cut back to.
  private var size: off_t = 0

  static func fileName(_ first: UInt64) -> String {
    let hex = String(first, radix: 16)
    return "wal-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".log"
  }

  static func firstLSN(ofFile name: String) -> UInt64? {
    guard name.hasPrefix("wal-"), name.hasSuffix(".log"), name.count == 24 else { return nil }
    return UInt64(name.dropFirst(4).dropLast(4), radix: 16)
  }

  init(dir: String, startingAt lsn: UInt64) throws(PersistenceError) {
    self.dir = dir
    try open(at: lsn)
  }

  deinit { if fd >= 0 { close(fd) } }

  /// Starts a new file whose first record will have `lsn` (the previous file is closed first; the
  /// caller has synced it if durability matters).
  func open(at lsn: UInt64) throws(PersistenceError) {
    let newPath = dir + "/" + Self.fileName(lsn)
    let newFD = try syscall("cannot create \(newPath)") {
      MoPPSPlatform.open(newPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
    }
    var header = BinaryWriter()
    header.bytes = Self.magic
    header.u32(Self.version)
    header.u64(lsn)
    do throws(PersistenceError) {
      try Files.writeAll(newFD, header.bytes, newPath)
      // The new file's name must survive a crash before any record in it matters.
      try syscall("cannot fsync \(newPath)") { fsync(newFD) }
      try Files.syncDirectory(dir)
    } catch {
      close(newFD)
      throw error
    }
    if fd >= 0 { close(fd) }
    fd = newFD
    path = newPath
    firstLSN = lsn
    nextLSN = lsn
    size = off_t(header.bytes.count)
  }

  /// A record framed for the log: [payload length u32][CRC-32C u32][payload].
  static func frame(_ record: WALRecord) -> [UInt8] {
    let payload = record.encode()
    var frame = BinaryWriter()
    frame.bytes.reserveCapacity(payload.count + 8)
    frame.u32(UInt32(payload.count))
    frame.u32(CRC32C.checksum(payload))
    frame.bytes += payload
    return frame.bytes
  }

  /// Appends one framed record (one write(2), so a crash leaves at most a torn tail); returns its
  /// LSN. A write that fails (a full disk) is cut back out of the file, so the log stays valid and
  /// the next append can succeed once there is room: the error is of kind `logWrite` then, and of
  /// kind `logUnusable` when the cut failed too.
  func append(frame: [UInt8]) throws(PersistenceError) -> UInt64 {
    do throws(PersistenceError) {
      try Files.writeAll(fd, frame, path)
    } catch {
      let rolledBack = ftruncate(fd, size) == 0
      throw error.reworded(error.message, kind: rolledBack ? .logWrite : .logUnusable)
    }
    size += off_t(frame.count)
    defer { nextLSN += 1 }
    return nextLSN
  }

  /// A second descriptor of the current file, for an fsync without the caller's lock: it stays valid
  /// when `open(at:)` moves on to a new file meanwhile. The caller closes it.
  func duplicateDescriptor() throws(PersistenceError) -> (fd: Int32, path: String) {
    (try syscall("cannot dup the log of \(path)") { dup(fd) }, path)
  }

  /// Flushes what was written to stable storage.
  func sync() throws(PersistenceError) {
    try syscall("cannot fsync \(path)") { fdatasync(fd) }
  }

  // MARK: Recovery

  struct ScanResult {
    var nextLSN: UInt64
    var replayed = 0
    var files = 0
    var report: [String] = []
    /// What start-up should fix on disk once it decides to go on.
    var repairs: [Repair] = []
    /// Acknowledged records that cannot be recovered: a gap, a damaged file with more behind it.
    var loss: [String] = []
  }

  /// A fix to the state directory that recovery decided on but did not make.
  enum Repair: Equatable {
    /// Cut a damaged tail off (the bytes from `offset` on could not be read as records).
    case truncate(String, offset: Int, display: String)
    /// Rename a file that cannot be used to `*.corrupt`, kept for a person to look at.
    case setAside(String, display: String)

    /// Carries the repair out and says what it did.
    func perform() -> String {
      switch self {
      case .truncate(let path, let offset, let display):
        do {
          try syscall("cannot truncate \(display)") { MoPPSPlatform.truncate(path, off_t(offset)) }
          return "truncated \(display) at byte \(offset)"
        } catch {
          return error.message
        }
      case .setAside(let path, let display):
        do {
          try syscall("cannot set \(display) aside") { MoPPSPlatform.rename(path, path + ".corrupt") }
          return "set \(display) aside as \(display).corrupt"
        } catch {
          return error.message
        }
      }
    }
  }

  /// Replays every valid record with LSN ≥ `from`, in order. A torn or corrupt record ends the log:
  /// the repairs (truncate its file there, set later files aside as *.corrupt) are listed, not
  /// made, and reported. Damage inside the newest file is the torn tail a crash leaves; anything
  /// else (a gap, damage with more files behind it) is listed as loss. Never traps on bad bytes.
  static func replay(dir: String, from: UInt64, apply: (UInt64, WALRecord) -> Void) -> ScanResult {
    var repairs: [Repair] = []
    func setAside(_ path: String) { repairs.append(.setAside(path, display: "wal/" + Files.name(of: path))) }
    let files = Files.list(dir).compactMap { name in firstLSN(ofFile: name).map { ($0, name) } }
      .sorted { $0.0 < $1.0 }
    var result = ScanResult(nextLSN: from)
    var expected: UInt64? = nil
    var stopped = false
    for (index, (first, name)) in files.enumerated() {
      let path = dir + "/" + name
      if stopped {
        setAside(path)
        result.report.append("\(name) comes after a damaged log file: set aside")
        result.loss.append("log file \(name) lies behind damage and cannot be replayed")
        continue
      }
      let nextFirst = index + 1 < files.count ? files[index + 1].0 : UInt64.max
      if nextFirst <= from {
        continue  // entirely before the snapshot
      }
      if let e = expected, first != e {
        result.report.append(
          "log gap: expected a file starting at LSN \(e), found \(name); later records ignored")
        result.loss.append("log records \(e)..<\(first) are missing")
        stopped = true
        setAside(path)
        continue
      }
      if expected == nil && first > from {
        result.report.append(
          "log gap: the snapshot ends at LSN \(from) but the oldest log file starts at \(first); records in between are lost"
        )
        result.loss.append("log records \(from)..<\(first) are missing (no snapshot covers them)")
      }
      let bytes: [UInt8]
      do {
        bytes = try Files.read(path)
      } catch {
        result.report.append("cannot read \(name): \(error.message); later records ignored")
        result.loss.append("log file \(name) cannot be read: \(error.message)")
        stopped = true
        continue
      }
      result.files += 1
      var offset = headerSize
      var lsn = first
      if bytes.count < headerSize || Array(bytes[0..<8]) != magic {
        result.report.append("\(name): bad header; file set aside")
        if index + 1 < files.count { result.loss.append("log file \(name) has a damaged header") }
        setAside(path)
        stopped = true
        continue
      }
      let version = bytes.withUnsafeBytes {
        UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
      }
      guard StateFormat.readable.contains(version) else {
        result.report.append("\(name): log format version \(version) is not supported; later records ignored")
        result.loss.append("log file \(name) is of format version \(version), which this moppsd cannot read")
        stopped = true
        continue
      }
      var damage: String? = nil
      while offset < bytes.count {
        guard bytes.count - offset >= 8 else {
          damage = "torn record header"
          break
        }
        let (length, crc) = bytes.withUnsafeBytes { raw in
          (
            Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))),
            UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
          )
        }
        guard length <= bytes.count - offset - 8 else {
          damage = "torn record (\(length) bytes announced, \(bytes.count - offset - 8) present)"
          break
        }
        let payload = Array(bytes[(offset + 8)..<(offset + 8 + length)])
        guard CRC32C.checksum(payload) == crc else {
          damage = "checksum mismatch"
          break
        }
        let record: WALRecord
        do {
          record = try WALRecord.decode(payload, version: version)
        } catch {
          damage = "undecodable record: \(error.message)"
          break
        }
        if lsn >= from {
          apply(lsn, record)
          result.replayed += 1
        }
        lsn += 1
        offset += 8 + length
      }
      if let damage {
        let dropped = bytes.count - offset
        result.report.append(
          "\(name): \(damage) at byte \(offset) (LSN \(lsn)); truncated the log there, dropping \(dropped) bytes"
        )
        if index + 1 < files.count {
          result.loss.append(
            "log file \(name) is damaged at byte \(offset) (LSN \(lsn)) and newer files follow it")
        }
        repairs.append(.truncate(path, offset: offset, display: "wal/" + name))
        stopped = true
      }
      expected = lsn
      result.nextLSN = max(result.nextLSN, lsn)
    }
    result.repairs = repairs
    return result
  }
}
