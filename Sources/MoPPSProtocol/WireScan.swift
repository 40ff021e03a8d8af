import MoPPSEngine

/// What one request may cost, checked on its raw bytes before protobuf-c decodes it.
public struct RequestLimits: Sendable, Equatable {
  /// Elements in one repeated field (ids, candidates, priors, names, …): `--max-ids`.
  public var maxIDs: Int
  /// Estimated bytes that decoding a request allocates (protobuf-c's and the Swift copies):
  /// `--max-request-memory`.
  public var maxMemoryBytes: Int

  public static let defaultMaxMemoryBytes = 1 << 30
  /// Pool names and tags (the engine and the tag store cap them at 128 bytes as well).
  public static let maxNameBytes = 128
  public static let maxRequestIDBytes = 256
  public static let maxImportNameBytes = 4096

  public init(maxIDs: Int = 1 << 24, maxMemoryBytes: Int = defaultMaxMemoryBytes) {
    self.maxIDs = maxIDs
    self.maxMemoryBytes = maxMemoryBytes
  }
}

/// A pre-decode walk over a request body's protobuf fields.
///
/// protobuf-c decodes a whole message before anything else can look at it, and what it allocates
/// depends on the encoding, not on the body size: a 32 MiB body of unpacked 1-byte varints becomes
/// 16 M scanned-field records (32 bytes each, in slabs that double) plus the array, and 96 MiB of
/// empty strings become 48 M heap blocks. So the body is walked first: every element of a repeated
/// field (packed or not) is counted against `--max-ids`, every string is checked for its cap and for
/// NUL bytes (protobuf-c strings are C strings: "a\0b" would silently become "a"), and the
/// allocations of decoding are estimated against `--max-request-memory`. Only bytes that pass are
/// handed to protobuf-c. The walk allocates only its table of counts (one entry per repeated field
/// present).
enum WireScan {
  /// How a field of a request message is decoded.
  indirect enum Kind: Sendable {
    /// A string (pool, tag, request id) of at most `maxBytes` bytes of UTF-8, without NUL.
    case string(maxBytes: Int)
    /// A repeated string, each element at most `maxBytes` bytes of UTF-8, without NUL.
    case strings(maxBytes: Int)
    /// A repeated number (packed or not), `width` bytes decoded per element.
    case numbers(Encoding, width: Int)
    /// A bytes field holding packed little-endian elements of `width` bytes.
    case littleEndian(width: Int)
    /// A sub-message.
    case message(Schema)
    /// A single number or enum.
    case scalar
  }

  enum Encoding: Sendable { case varint, fixed64, fixed32 }

  struct Field: Sendable {
    var name: String
    var kind: Kind
  }

  struct Schema: Sendable {
    var message: String
    /// protobuf-c's struct for the message (approximately; the estimate rounds up).
    var structBytes: Int
    var fields: [UInt64: Field]
  }

  // Estimated costs in bytes.
  /// protobuf-c's ScannedMember (32 bytes) for every field on the wire, in slabs that double.
  static let perField = 64
  /// An unknown field's ProtobufCMessageUnknownField.
  static let perUnknownField = 24
  /// A Swift String (array element) and, past 15 bytes, its heap object header.
  static let swiftStringSlot = 16
  static let swiftStringHeader = 32

  /// A glibc malloc block holding `n` bytes: 8 bytes of header, 16-byte granules, 32 at least.
  static func mallocBytes(_ n: Int) -> Int { max(32, (n + 8 + 15) & ~15) }

  static func swiftStringBytes(_ n: Int) -> Int { swiftStringSlot + (n > 15 ? swiftStringHeader + n : 0) }

  struct Totals {
    var memory = 0
    var elements: [UInt64: Int] = [:]
  }

  /// Refuses a body that would exceed `limits` or that carries a bad string; returns normally when
  /// protobuf-c may decode it (which may still find it malformed).
  static func check(_ body: [UInt8], _ schema: Schema, _ limits: RequestLimits) throws(MoPPSError) {
    // withUnsafeBytes does not forward a typed error: carry it out by hand.
    let failure = body.withUnsafeBytes { raw -> MoPPSError? in
      var totals = Totals()
      do throws(MoPPSError) {
        try walk(raw, schema, limits, &totals)
        return nil
      } catch {
        return error
      }
    }
    if let failure { throw failure }
  }

  private static func walk(
    _ raw: UnsafeRawBufferPointer, _ schema: Schema, _ limits: RequestLimits, _ totals: inout Totals
  ) throws(MoPPSError) {
    var reader = Reader(raw)
    totals.memory += mallocBytes(schema.structBytes)
    let unparsable = MoPPSError.invalid("request body does not parse as \(schema.message)")
    while !reader.atEnd {
      guard let key = reader.varint(), key >> 3 != 0 else { throw unparsable }
      let number = key >> 3
      let wireType = key & 7
      totals.memory += perField
      var payload = UnsafeRawBufferPointer(start: nil, count: 0)
      switch wireType {
      case 0: guard reader.varint() != nil else { throw unparsable }
      case 1: guard reader.skip(8) else { throw unparsable }
      case 5: guard reader.skip(4) else { throw unparsable }
      case 2:
        guard let length = reader.varint(), let bytes = reader.take(length) else { throw unparsable }
        payload = bytes
      default:
        // Groups (3, 4) are not supported by protobuf-c; 6 and 7 do not exist.
        throw unparsable
      }
      guard let field = schema.fields[number] else {
        totals.memory += perUnknownField + (wireType == 2 ? mallocBytes(payload.count) : 8)
        try checkMemory(totals, limits, schema)
        continue
      }
      switch field.kind {
      case .scalar:
        break
      case .string(let maxBytes):
        guard wireType == 2 else { break }
        try checkString(payload, field.name, maxBytes)
        totals.memory += mallocBytes(payload.count + 1) + swiftStringBytes(payload.count)
      case .strings(let maxBytes):
        guard wireType == 2 else { break }
        try checkString(payload, field.name, maxBytes)
        try count(number, 1, field.name, limits, &totals)
        totals.memory += 8 + mallocBytes(payload.count + 1) + swiftStringBytes(payload.count)
      case .numbers(let encoding, let width):
        let n: Int
        if wireType == 2 {
          guard let packed = elements(payload, encoding) else { throw unparsable }
          n = packed
        } else {
          n = 1
        }
        try count(number, n, field.name, limits, &totals)
        // protobuf-c's array and the Swift array (of 8-byte elements after conversion).
        totals.memory += n * (width + 8)
      case .littleEndian(let width):
        guard wireType == 2 else { break }
        try count(number, payload.count / width, field.name, limits, &totals)
        totals.memory += mallocBytes(payload.count) + payload.count
      case .message(let inner):
        guard wireType == 2 else { break }
        try walk(payload, inner, limits, &totals)
      }
      try checkMemory(totals, limits, schema)
    }
  }

  private static func count(
    _ number: UInt64, _ n: Int, _ name: String, _ limits: RequestLimits, _ totals: inout Totals
  ) throws(MoPPSError) {
    let total = totals.elements[number, default: 0] + n
    totals.elements[number] = total
    guard total <= limits.maxIDs else {
      throw MoPPSError(
        .resourceExhausted,
        "\(name): more than \(limits.maxIDs) elements, the limit per request (moppsd serve --max-ids); "
          + "split the request")
    }
  }

  private static func checkMemory(_ totals: Totals, _ limits: RequestLimits, _ schema: Schema)
    throws(MoPPSError)
  {
    guard totals.memory <= limits.maxMemoryBytes else {
      throw MoPPSError(
        .resourceExhausted,
        "\(schema.message): decoding would take more than \(limits.maxMemoryBytes >> 20) MiB, the limit per "
          + "request (moppsd serve --max-request-memory); send arrays in their packed *_le fields or split "
          + "the request")
    }
  }

  private static func checkString(_ bytes: UnsafeRawBufferPointer, _ name: String, _ maxBytes: Int)
    throws(MoPPSError)
  {
    guard bytes.count <= maxBytes else {
      throw .invalid("\(name): \(bytes.count) bytes, longer than the limit of \(maxBytes)")
    }
    guard !bytes.contains(0) else {
      throw .invalid("\(name): contains a NUL byte (strings are text without NUL)")
    }
    // Decoding repairs invalid UTF-8 to U+FFFD, which would make different request ids (or names)
    // equal: refuse instead, as proto3 requires strings to be UTF-8.
    guard String(validating: bytes, as: UTF8.self) != nil else {
      throw .invalid("\(name): not valid UTF-8")
    }
  }

  /// Elements of a packed field, or nil when its bytes do not split into them.
  private static func elements(_ bytes: UnsafeRawBufferPointer, _ encoding: Encoding) -> Int? {
    switch encoding {
    case .fixed64: return bytes.count % 8 == 0 ? bytes.count / 8 : nil
    case .fixed32: return bytes.count % 4 == 0 ? bytes.count / 4 : nil
    case .varint:
      // One varint ends at each byte without the continuation bit; eight bytes at a time.
      guard let last = bytes.last, last & 0x80 == 0 else { return bytes.isEmpty ? 0 : nil }
      var n = 0
      var i = 0
      while i + 8 <= bytes.count {
        let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        n += (~word & 0x8080_8080_8080_8080).nonzeroBitCount
        i += 8
      }
      while i < bytes.count {
        if bytes[i] & 0x80 == 0 { n += 1 }
        i += 1
      }
      return n
    }
  }

  /// A cursor over protobuf bytes.
  struct Reader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    mutating func varint() -> UInt64? {
      var value: UInt64 = 0
      var shift: UInt64 = 0
      while position < bytes.count && shift < 64 {
        let byte = bytes[position]
        position += 1
        value |= UInt64(byte & 0x7F) << shift
        if byte & 0x80 == 0 { return value }
        shift += 7
      }
      return nil
    }

    mutating func skip(_ n: Int) -> Bool {
      guard bytes.count - position >= n else { return false }
      position += n
      return true
    }

    mutating func take(_ n: UInt64) -> UnsafeRawBufferPointer? {
      guard n <= UInt64(bytes.count - position) else { return nil }
      let start = position
      position += Int(n)
      return UnsafeRawBufferPointer(rebasing: bytes[start..<position])
    }
  }
}

extension WireScan {
  private static let pool: [UInt64: Field] = [
    1: Field(name: "pool", kind: .string(maxBytes: RequestLimits.maxNameBytes))
  ]
  private static let ids = array("ids", 2, .varint, width: 8)

  /// A repeated number field `name` at `number` and its packed little-endian twin `name_le` at
  /// `number + 1`, as the proto pairs them.
  private static func array(_ name: String, _ number: UInt64, _ encoding: Encoding, width: Int) -> [UInt64:
    Field]
  {
    [
      number: Field(name: name, kind: .numbers(encoding, width: width)),
      number + 1: Field(name: name + "_le", kind: .littleEndian(width: width)),
    ]
  }

  private static func string(_ name: String, _ number: UInt64, maxBytes: Int) -> [UInt64: Field] {
    [number: Field(name: name, kind: .string(maxBytes: maxBytes))]
  }

  private static let dpsConfig = Schema(
    message: "mopps.v1.DPSConfig", structBytes: 96,
    fields: [
      1: Field(name: "config.dps.decay", kind: .scalar),
      2: Field(name: "config.dps.prior", kind: .string(maxBytes: 32)),
      3: Field(name: "config.dps.prior_counts", kind: .numbers(.fixed64, width: 8)),
      4: Field(name: "config.dps.selection", kind: .string(maxBytes: 32)),
      5: Field(name: "config.dps.entropy_weight", kind: .scalar),
    ])

  private static let poolConfig = Schema(
    message: "mopps.v1.PoolConfig", structBytes: 160,
    fields: Dictionary(uniqueKeysWithValues: (1...9).map { ($0, Field(name: "config", kind: .scalar)) })
      .merging(
        [
          20: Field(name: "config.dps", kind: .message(dpsConfig)),
          21: Field(
            name: "config.greso",
            kind: .message(
              Schema(
                message: "mopps.v1.GRESOConfig", structBytes: 192,
                fields: Dictionary(
                  uniqueKeysWithValues: (1...10).map { ($0, Field(name: "config.greso", kind: .scalar)) })))),
          22: Field(
            name: "config.pools",
            kind: .message(
              Schema(
                message: "mopps.v1.PoolsConfig", structBytes: 128,
                fields: Dictionary(
                  uniqueKeysWithValues: (1...6).map { ($0, Field(name: "config.pools", kind: .scalar)) })))),
        ]
      ) { a, _ in a })

  private static func only(_ message: String, _ parts: [UInt64: Field]...) -> Schema {
    let fields = parts.reduce(into: [UInt64: Field]()) { all, part in all.merge(part) { a, _ in a } }
    return Schema(message: "mopps.v1." + message, structBytes: 64 + 24 * fields.count, fields: fields)
  }

  /// The schema of each method's request, built once.
  private static let schemas = Dictionary(uniqueKeysWithValues: Method.allCases.map { ($0, makeSchema($0)) })

  static func schema(_ method: Method) -> Schema { schemas[method] ?? makeSchema(method) }

  /// The fields of each method's request message (proto/mopps/v1/selector.proto); fields not
  /// listed are single scalars or unknown.
  private static func makeSchema(_ method: Method) -> Schema {
    let requestID = RequestLimits.maxRequestIDBytes
    switch method {
    case .createPool:
      return only("CreatePoolRequest", pool, [2: Field(name: "config", kind: .message(poolConfig))])
    case .dropPool: return only("DropPoolRequest", pool)
    case .listPools: return only("ListPoolsRequest")
    case .register:
      // prior_alpha and prior_beta have no _le twin.
      return only(
        "RegisterRequest", pool, ids,
        [
          4: Field(name: "prior_alpha", kind: .numbers(.fixed64, width: 8)),
          5: Field(name: "prior_beta", kind: .numbers(.fixed64, width: 8)),
        ])
    case .select:
      return only(
        "SelectRequest", pool, array("candidates", 3, .varint, width: 8),
        string("request_id", 10, maxBytes: requestID))
    case .update:
      return only(
        "UpdateRequest", pool, ids, array("successes", 4, .fixed64, width: 8),
        array("trials", 6, .varint, width: 4),
        string("request_id", 9, maxBytes: requestID))
    case .get: return only("GetRequest", pool, ids)
    case .snapshot, .restore:
      return only(
        method == .snapshot ? "SnapshotRequest" : "RestoreRequest", pool,
        string("tag", 2, maxBytes: RequestLimits.maxNameBytes))
    case .listSnapshots: return only("ListSnapshotsRequest", pool)
    case .importState:
      return only(
        "ImportRequest", pool, ids, array("alpha", 4, .fixed64, width: 8),
        array("beta", 6, .fixed64, width: 8),
        [8: Field(name: "names", kind: .strings(maxBytes: RequestLimits.maxImportNameBytes))])
    case .exportState: return only("ExportRequest", pool)
    case .stats: return only("StatsRequest")
    case .health: return only("HealthRequest")
    }
  }
}
