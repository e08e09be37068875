import ArgumentParser
import TallyCore

@main
struct TallyBench: AsyncParsableCommand {
    /// The benchmarks run with the same allocator settings as the executables.
    static func main() async {
        MemoryTuning.keepLargeBuffers()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "tally-bench",
        abstract: "Tally's benchmarks. Each prints JSON and measures the machine's own limit in the same run.",
        subcommands: [PrimitivesBenchmark.self, SecAggBenchmark.self, RoundBenchmark.self, LoadBenchmark.self, AccountantBenchmark.self, TrainBenchmark.self]
    )
}
