import ArgumentParser

@main
struct TallyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-bench",
        abstract: "Tally's benchmarks. Each prints JSON and measures the machine's own limit in the same run.",
        subcommands: [PrimitivesBenchmark.self]
    )
}
