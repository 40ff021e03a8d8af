/// A tiny protobuf writer for building request bodies by hand, independent of the code under test.
struct ProtoWriter {
  var bytes: [UInt8] = []

  mutating func varint(_ v: UInt64) {
    var v = v
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  mutating func key(_ field: UInt64, _ wireType: UInt64) { varint(field << 3 | wireType) }

  mutating func uint(_ field: UInt64, _ v: UInt64) {
    key(field, 0)
    varint(v)
  }

  mutating func bytesField(_ field: UInt64, _ b: [UInt8]) {
    key(field, 2)
    varint(UInt64(b.count))
    bytes += b
  }

  mutating func string(_ field: UInt64, _ s: String) { bytesField(field, Array(s.utf8)) }

  mutating func double(_ field: UInt64, _ d: Double) {
    key(field, 1)
    withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 }
  }

  /// A packed repeated varint field.
  mutating func packed(_ field: UInt64, _ values: [UInt64]) {
    var inner = ProtoWriter()
    for v in values { inner.varint(v) }
    bytesField(field, inner.bytes)
  }

  static func littleEndian(_ values: [UInt64]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  }
}
