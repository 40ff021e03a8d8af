/// A tiny protobuf writer for building request bodies by hand, independent of the code under test.
public struct ProtoWriter {
  public var bytes: [UInt8] = []

  public init() {}

  public mutating func varint(_ v: UInt64) {
    var v = v
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  public mutating func key(_ field: UInt64, _ wireType: UInt64) { varint(field << 3 | wireType) }

  public mutating func uint(_ field: UInt64, _ v: UInt64) {
    key(field, 0)
    varint(v)
  }

  public mutating func bytesField(_ field: UInt64, _ b: [UInt8]) {
    key(field, 2)
    varint(UInt64(b.count))
    bytes += b
  }

  public mutating func string(_ field: UInt64, _ s: String) { bytesField(field, Array(s.utf8)) }

  public mutating func double(_ field: UInt64, _ d: Double) {
    key(field, 1)
    withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 }
  }

  /// A packed repeated varint field.
  public mutating func packed(_ field: UInt64, _ values: [UInt64]) {
    var inner = ProtoWriter()
    for v in values { inner.varint(v) }
    bytesField(field, inner.bytes)
  }

  public static func littleEndian(_ values: [UInt64]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  }
}
