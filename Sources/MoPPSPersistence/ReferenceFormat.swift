import Foundation
import MoPPSEngine

/// The MoPPS reference's JSON files: state `{id: [alpha, beta]}` and offline evaluation
/// `{id: [0/1, ...]}` (priors alpha = multiplier·successes + α0, beta = multiplier·failures + β0).
///
/// Keys are strings. A canonical decimal key ("0", "17": digits only, no leading zeros, < 2^64) is
/// that id; any other key maps to the 64-bit FNV-1a hash of its UTF-8 bytes and is kept as the id's
/// name, so an export writes the same keys back. The Python client (`mopps.reference`) uses the same rule.
public enum ReferenceFormat {
  public static func fnv1a64(_ text: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return h
  }

  /// (id, name); the name is "" when the key is a canonical decimal id.
  public static func id(forKey key: String) -> (UInt64, String) {
    let canonical =
      !key.isEmpty && key.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && (key == "0" || !key.hasPrefix("0"))
    if canonical, let id = UInt64(key) { return (id, "") }
    return (fnv1a64(key), key)
  }

  public struct Entries {
    public var ids: [UInt64] = []
    public var alpha: [Double] = []
    public var beta: [Double] = []
    public var names: [String] = []
  }

  /// Parses a state or evaluation file into entries (priors `prior` apply to evaluations).
  public static func parse(
    _ data: Data, evaluation: Bool, multiplier: Double = 3, prior: (Double, Double) = (1, 1)
  ) throws(PersistenceError) -> Entries {
    guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any]
    else {
      throw PersistenceError("expected a JSON object {id: ...}")
    }
    var out = Entries()
    var seen: [UInt64: String] = [:]
    for key in dict.keys.sorted() {
      let (id, name) = id(forKey: key)
      if let other = seen[id] {
        throw PersistenceError("keys \"\(other)\" and \"\(key)\" map to the same id \(id)")
      }
      seen[id] = key
      guard let values = (dict[key] as? [Any])?.compactMap({ ($0 as? NSNumber)?.doubleValue }),
        values.count == (dict[key] as? [Any])?.count
      else { throw PersistenceError("entry \"\(key)\": expected a list of numbers") }
      if evaluation {
        guard values.allSatisfy({ $0 == 0 || $0 == 1 }) else {
          throw PersistenceError("entry \"\(key)\": expected 0/1 outcomes")
        }
        let successes = values.reduce(0, +)
        out.alpha.append(multiplier * successes + prior.0)
        out.beta.append(multiplier * (Double(values.count) - successes) + prior.1)
      } else {
        guard values.count == 2 else { throw PersistenceError("entry \"\(key)\": expected [alpha, beta]") }
        out.alpha.append(values[0])
        out.beta.append(values[1])
      }
      out.ids.append(id)
      out.names.append(name)
    }
    return out
  }

  /// `{id: [alpha, beta]}` with the keys as imported and the float32 posteriors in their shortest
  /// exact decimal form.
  public static func render(_ p: Posteriors, names: [String]) -> String {
    var parts: [String] = []
    parts.reserveCapacity(p.ids.count)
    for i in p.ids.indices {
      let key = names[i].isEmpty ? String(p.ids[i]) : names[i]
      parts.append("\(jsonString(key)): [\(Float(p.alpha[i])), \(Float(p.beta[i]))]")
    }
    return "{" + parts.joined(separator: ", ") + "}\n"
  }

  /// A JSON string literal (RFC 8259 §7: quote, backslash and control characters escaped; the
  /// rest as is, since the file is UTF-8), as JSONSerialization writes it.
  static func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{08}": out += "\\b"
      case "\u{0C}": out += "\\f"
      case "/": out += "\\/"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }
}
