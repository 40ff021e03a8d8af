import ArgumentParser
import Foundation
import MoPPSServer
import ZeroMQ

/// Key files: one Z85 key per line (its first word; the rest of the line is free text), blank lines
/// and lines starting with # ignored. (# is a Z85 character, so it only starts a comment at the
/// beginning of a line.)
enum KeyFileReader {
  static func readKeys(_ path: String, flag: String) throws -> [String] {
    guard let data = FileManager.default.contents(atPath: path),
      let text = String(data: data, encoding: .utf8)
    else {
      throw ValidationError("\(flag) \(path): cannot read the file")
    }
    var keys: [String] = []
    for raw in text.split(whereSeparator: \.isNewline) {
      let trimmed = raw.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
      let line = String(trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
      guard Curve.decode(line) != nil else {
        throw ValidationError("\(flag) \(path): \"\(line)\" is not a Z85 key")
      }
      keys.append(line)
    }
    return keys
  }
}

struct Keygen: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create a CurveZMQ key pair: PREFIX.key (secret, mode 600) and PREFIX.pub.",
    discussion: """
      Give the server its secret key (serve --curve-secret-key server.key) and clients its public \
      key; list clients' public keys in a file for serve --curve-allow.

      Examples:
        moppsd keygen --out server
        moppsd keygen --out trainer-1
      """)

  @Option(help: ArgumentHelp("Path prefix of the two files.", valueName: "prefix"))
  var out: String

  @Flag(help: "Overwrite existing files.")
  var force = false

  func run() throws {
    let pair = try Curve.keyPair()
    do throws(ServerError) {
      try KeyFiles.writeKeyPair(pair, prefix: out, overwrite: force)
    } catch {
      throw ValidationError(error.message)
    }
    print("public key \(pair.publicKey)\nwrote \(out).key (secret) and \(out).pub")
  }
}
