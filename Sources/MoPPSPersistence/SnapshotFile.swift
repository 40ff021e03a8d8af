import MoPPSEngine

/// A snapshot file: "MOPPSSNP", version u32, kind u8 (1 full state, 2 one pool under a tag),
/// LSN u64 (the first log record not included), creation time (Unix seconds, f64), pools u32,
/// prompts u64, payload length u64, CRC-32C of the payload u32, then the payload (the pools).
/// Listing reads only the fixed-size header.
struct SnapshotFile: Equatable {
  enum Kind: UInt8 {
    case state = 1
    case tag = 2
  }

  static let magic: [UInt8] = Array("MOPPSSNP".utf8)
  static var version: UInt32 { StateFormat.current }
  static let headerSize = 8 + 4 + 1 + 8 + 8 + 4 + 8 + 8 + 4

  var kind: Kind
  var lsn: UInt64
  var created: Double
  var pools: [PoolSnapshot]

  struct Header: Equatable {
    var kind: Kind
    var lsn: UInt64
    var created: Double
    var poolCount: Int
    var promptCount: Int
    var payloadLength: Int
    var crc: UInt32
    var version: UInt32
  }

  func encode() -> [UInt8] {
    var payload = BinaryWriter()
    for p in pools { payload.pool(p) }
    var w = BinaryWriter()
    w.bytes = Self.magic
    w.u32(Self.version)
    w.u8(kind.rawValue)
    w.u64(lsn)
    w.f64(created)
    w.u32(UInt32(pools.count))
    w.u64(UInt64(pools.reduce(0) { $0 + $1.ids.count }))
    w.u64(UInt64(payload.bytes.count))
    w.u32(CRC32C.checksum(payload.bytes))
    w.bytes += payload.bytes
    return w.bytes
  }

  static func header(_ bytes: [UInt8]) throws(PersistenceError) -> Header {
    guard bytes.count >= headerSize, Array(bytes[0..<8]) == magic else {
      throw PersistenceError("not a moppsd snapshot (bad magic or too short)")
    }
    var r = BinaryReader(Array(bytes[8..<headerSize]))
    let version = try r.u32()
    guard StateFormat.readable.contains(version) else {
      throw PersistenceError(
        "snapshot version \(version) is not supported (this moppsd reads \(StateFormat.readable)); a newer moppsd wrote it?"
      )
    }
    guard let kind = Kind(rawValue: try r.u8()) else { throw PersistenceError("unknown snapshot kind") }
    return Header(
      kind: kind, lsn: try r.u64(), created: try r.f64(), poolCount: Int(try r.u32()),
      promptCount: Int(truncatingIfNeeded: try r.u64()),
      payloadLength: Int(truncatingIfNeeded: try r.u64()), crc: try r.u32(), version: version)
  }

  /// Decodes and verifies a whole file (header, length, checksum, contents).
  static func decode(_ bytes: [UInt8]) throws(PersistenceError) -> SnapshotFile {
    let h = try header(bytes)
    guard h.payloadLength >= 0, bytes.count - headerSize == h.payloadLength else {
      throw PersistenceError("payload is \(bytes.count - headerSize) bytes, header says \(h.payloadLength)")
    }
    let payload = Array(bytes[headerSize...])
    guard CRC32C.checksum(payload) == h.crc else { throw PersistenceError("checksum mismatch") }
    var r = BinaryReader(payload, version: h.version)
    var pools: [PoolSnapshot] = []
    for _ in 0..<h.poolCount { pools.append(try r.pool()) }
    guard r.atEnd else { throw PersistenceError("stray bytes after the pools") }
    return SnapshotFile(kind: h.kind, lsn: h.lsn, created: h.created, pools: pools)
  }
}

/// A snapshot on disk: a full-state snapshot or a pool's tag, as Snapshot and ListSnapshots report it.
public struct StoredSnapshot: Sendable, Equatable {
  /// The pool of a tag; empty for a full-state snapshot.
  public var pool: String
  /// The tag, or "state-<lsn>" for a full-state snapshot.
  public var tag: String
  public var lsn: UInt64
  public var created: Double
  public var promptCount: Int
  public var bytes: Int
}
