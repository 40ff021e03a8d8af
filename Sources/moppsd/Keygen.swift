import ArgumentParser
import MoPPSClient
import MoPPSEngine
import MoPPSServer

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
    let pair = try CurveKeys.keyPair()
    do throws(MoPPSError) {
      try KeyFiles.writeKeyPair(pair, prefix: out, overwrite: force)
    } catch {
      throw ValidationError(error.message)
    }
    print("public key \(pair.publicKey)\nwrote \(out).key (secret) and \(out).pub")
  }
}
