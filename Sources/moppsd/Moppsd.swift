import ArgumentParser
import MoPPSServer

@main
struct Moppsd: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "moppsd",
    abstract: "MoPPS prompt-selection sidecar for RL trainers, over ZeroMQ + protobuf.",
    discussion: """
      moppsd keeps a Beta posterior of the success rate of every prompt, Thompson-samples them, and \
      answers "which B prompts next?" (Select) and "here is how they scored" (Update) for trainers in \
      any language. The wire contract is proto/mopps/v1/*.proto.

      Examples:
        moppsd serve                                   # ipc in ./mopps-state + tcp://127.0.0.1:5555
        moppsd serve --listen ipc:///tmp/mopps.sock --publish ipc:///tmp/mopps-events.sock
      """,
    version: KernelChoice.versionLine,
    subcommands: [
      Serve.self, Health.self, Stats.self, Keygen.self, Inspect.self, ImportState.self, ExportState.self,
      Bench.self,
      Sample.self,
    ],
    defaultSubcommand: nil)

  /// Logs go to stderr as logfmt from the start, for every subcommand (serve then sets its level).
  static func main() {
    Log.bootstrap(level: .info)
    main(nil)
  }
}
