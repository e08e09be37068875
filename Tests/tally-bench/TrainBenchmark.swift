import ArgumentParser
import CBLAS
import Foundation
import TallyCore
import TallyModel

/// `tally-bench train --json`: one epoch (by default) of the built-in MLP on the Fashion-MNIST
/// training split with Tally's trainer and with PyTorch in the same run — same widths, same
/// initial weights, same batch order, same plain SGD — next to the limit both are bound by:
/// `cblas_sgemm` at the batch's GEMM shapes and at a large square size.
/// Run on a release build (`swift build -c release --product tally-bench`).
///
/// Both sides call the same OpenBLAS (Debian's torch links it as its BLAS), so the kernel set it
/// detects applies to both: on a CPU its version does not know it falls back to an old one
/// (`openblasCore` says which; `OPENBLAS_CORETYPE=SkylakeX` in the environment overrides it for
/// both). On a loaded machine, `--threads 1` avoids BLAS threads waiting for each other.
struct TrainBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "MLP training throughput and accuracy: Tally vs PyTorch (same init and batches), and raw sgemm GFLOP/s.")

    @Flag(help: "Print JSON (the only output format).") var json = false
    @Option(help: "Hidden layer widths.") var hidden: [Int] = [256]
    @Option(help: "Hidden activation: relu or tanh.") var activation = "relu"
    @Option(help: "Examples per SGD step.") var batchSize = 64
    @Option(help: "SGD learning rate.") var learningRate = 0.05
    @Option(help: "Epochs over the training examples.") var epochs = 1
    @Option(help: "Training examples used (the first N of the split; 0 for all).") var trainExamples = 0
    @Option(help: "Seed of the initial weights and the batch order.") var seed: UInt64 = 1
    @Option(help: "Timed runs of each trainer, alternating so both see the same machine load (the best counts).")
    var repetitions = 2
    @Option(help: "After the timed runs, train Tally's model this many epochs more and report test accuracy after each (0: skip).")
    var curveEpochs = 0
    @Option(help: "Threads for OpenBLAS and for PyTorch.") var threads = 2
    @Option(help: "Folder with the Fashion-MNIST IDX files.") var data = FashionMNIST.defaultDirectory
    @Option(help: "Python with torch and numpy (the run skips PyTorch if it is missing).") var python = "/usr/bin/python3"
    @Option(help: "The PyTorch script (default: pytorch_mlp.py next to this source file).") var script = ""

    struct Trainer: Encodable {
        let seconds: Double, examplesPerSecond: Double, testAccuracy: Double
        /// CPU seconds of the process over the best run: what a loaded machine does not inflate
        /// (threads that spin waiting for each other do count).
        let cpuSeconds: Double
        /// Achieved GFLOP/s of the training GEMMs (forward, weight and input gradients).
        let gemmGFLOPs: Double
    }
    struct GEMM: Encodable {
        let m: Int, n: Int, k: Int, transA: Bool, transB: Bool, role: String, gflops: Double
    }
    struct Report: Encodable {
        let benchmark = "train"
        let machine = MachineInfo()
        let widths: [Int], activation: String, batchSize: Int, learningRate: Double, epochs: Int
        let trainExamples: Int, testExamples: Int, threads: Int
        /// The kernel set OpenBLAS chose for this CPU (`OPENBLAS_CORETYPE` overrides it; the
        /// PyTorch child inherits the environment, and so the same choice).
        let openblasCore: String
        let pytorchOpenBLASCore: String?
        let flopsPerExample: Double
        let tally: Trainer
        let pytorch: Trainer?
        let pytorchVersion: String?
        let pytorchNote: String
        /// examples/s of Tally over PyTorch's (> 1: Tally is faster).
        let tallyToPyTorch: Double?
        /// Raw cblas_sgemm at the shapes of one batch step, and at a large square size.
        let sgemm: [GEMM]
        let sgemmSquare: GEMM
        /// examples/s if every GEMM of a step ran at its measured raw rate and nothing else took time.
        let sgemmBoundExamplesPerSecond: Double
        /// Test accuracy after each of `--curve-epochs` epochs from the same start (Tally).
        let accuracyByEpoch: [Double]?
    }

    func run() throws {
        guard let act = ModelSpec.Activation(rawValue: activation) else {
            throw ValidationError("--activation must be relu or tanh, got \(activation)")
        }
        openblas_set_num_threads(Int32(threads))
        let (fullTrain, test) = try FashionMNIST.load(directory: data)
        let train = trainExamples > 0 ? try fullTrain.subset(Array(0..<min(trainExamples, fullTrain.count))) : fullTrain
        let spec = ModelSpec.multilayerPerceptron(
            featureCount: FashionMNIST.featureCount, hidden: hidden, activation: act, classCount: FashionMNIST.classCount)
        let initial = try MultilayerPerceptron.initial(spec: spec, seed: seed)
        let widths = initial.widths
        let examples = Double(train.count * epochs)

        let flopsPerExample = Self.flopsPerExample(widths)
        let directory = NSTemporaryDirectory() + "tally-bench-train-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let order = MultilayerPerceptron.trainingOrder(indices: nil, count: train.count, epochs: epochs, seed: seed)
        try Data(initial.parameters.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
            .write(to: URL(fileURLWithPath: directory + "/initial.f32"))
        try Data(order.joined().flatMap { withUnsafeBytes(of: Int32($0).littleEndian, Array.init) })
            .write(to: URL(fileURLWithPath: directory + "/order.i32"))
        let scriptPath = script.isEmpty ? URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/pytorch_mlp.py" : script
        let arguments = [
            scriptPath, "--data", data, "--init", directory + "/initial.f32", "--order", directory + "/order.i32",
            "--widths", widths.map(String.init).joined(separator: ","), "--activation", activation,
            "--batch-size", "\(batchSize)", "--learning-rate", "\(learningRate)", "--epochs", "\(epochs)",
            "--threads", "\(threads)",
        ]
        let runPyTorch = FileManager.default.isExecutableFile(atPath: python)

        var tally: Trainer?, pytorch: Trainer?
        var version: String?, pytorchCore: String?
        var note = runPyTorch ? "" : "not run: \(python) not found"
        for _ in 0..<repetitions {
            var model = initial
            let cpuStart = Self.cpuSeconds()
            let start = ContinuousClock.now
            _ = try model.train(on: train, epochs: epochs, batchSize: batchSize, learningRate: Float(learningRate), seed: seed)
            let seconds = (ContinuousClock.now - start).seconds
            let cpu = Self.cpuSeconds() - cpuStart
            if seconds < tally?.seconds ?? .infinity {
                tally = Trainer(
                    seconds: seconds, examplesPerSecond: examples / seconds, testAccuracy: try model.accuracy(on: test),
                    cpuSeconds: cpu, gemmGFLOPs: examples * flopsPerExample / seconds / 1e9)
            }
            // PyTorch, from the same initial parameters and in the same batch order.
            guard runPyTorch else { continue }
            let (status, output) = try Self.run(python, arguments)
            let line = output.split(separator: "\n").last { $0.hasPrefix("{") }
            if status == 0, let line,
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let seconds = object["seconds"] as? Double, let accuracy = object["testAccuracy"] as? Double,
                let cpu = object["cpuSeconds"] as? Double
            {
                if seconds < pytorch?.seconds ?? .infinity {
                    pytorch = Trainer(
                        seconds: seconds, examplesPerSecond: examples / seconds, testAccuracy: accuracy, cpuSeconds: cpu,
                        gemmGFLOPs: examples * flopsPerExample / seconds / 1e9)
                }
                version = object["torch"] as? String
                pytorchCore = object["openblasCore"] as? String
                note =
                    "torch.set_num_threads(\(object["threads"] ?? "?")), nn.Linear layers, CrossEntropyLoss, optim.SGD; best of \(repetitions)"
            } else {
                note = "PyTorch run failed (exit \(status)): \(output.suffix(800))"
                break
            }
        }
        guard let tally else { throw ValidationError("--repetitions must be at least 1") }

        // The limit: raw sgemm at this step's shapes (row-major, as the trainer calls it).
        var shapes: [GEMM] = []
        for l in 0..<(widths.count - 1) {
            let fanIn = widths[l], fanOut = widths[l + 1]
            shapes.append(Self.measure(m: batchSize, n: fanOut, k: fanIn, transA: false, transB: true, role: "layers.\(l) forward"))
            shapes.append(Self.measure(m: fanOut, n: fanIn, k: batchSize, transA: true, transB: false, role: "layers.\(l) weight gradient"))
            if l > 0 {
                shapes.append(
                    Self.measure(m: batchSize, n: fanIn, k: fanOut, transA: false, transB: false, role: "layers.\(l) input gradient"))
            }
        }
        let square = Self.measure(m: 1024, n: 1024, k: 1024, transA: false, transB: false, role: "square")
        var curve: [Double]?
        if curveEpochs > 0 {
            var model = initial
            curve = []
            for epoch in 0..<curveEpochs {
                _ = try model.train(
                    on: train, epochs: 1, batchSize: batchSize, learningRate: Float(learningRate), seed: seed &+ UInt64(epoch))
                curve?.append(try model.accuracy(on: test))
            }
        }
        let stepSeconds = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.n * $1.k) / ($1.gflops * 1e9) }

        try Measure.printJSON(
            Report(
                widths: widths, activation: activation, batchSize: batchSize, learningRate: learningRate, epochs: epochs,
                trainExamples: train.count, testExamples: test.count, threads: threads,
                openblasCore: String(cString: openblas_get_corename()), pytorchOpenBLASCore: pytorchCore, flopsPerExample: flopsPerExample,
                tally: tally, pytorch: pytorch, pytorchVersion: version, pytorchNote: note,
                tallyToPyTorch: pytorch.map { tally.examplesPerSecond / $0.examplesPerSecond },
                sgemm: shapes, sgemmSquare: square, sgemmBoundExamplesPerSecond: Double(batchSize) / stepSeconds, accuracyByEpoch: curve))
    }

    /// Multiply-adds ×2 per example of one SGD step: forward and weight gradient at every layer,
    /// input gradient at every layer but the first.
    static func flopsPerExample(_ widths: [Int]) -> Double {
        var flops = 0.0
        for l in 0..<(widths.count - 1) {
            let product = 2 * Double(widths[l] * widths[l + 1])
            flops += product * (l == 0 ? 2 : 3)
        }
        return flops
    }

    /// Raw `cblas_sgemm` GFLOP/s for C[m×n] = op(A) op(B), row-major, over ≥ 0.3 s, best of 3.
    static func measure(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, role: String) -> GEMM {
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var rate = 0.0
        c.withUnsafeMutableBufferPointer { c in
            for _ in 0..<3 {
                rate = max(
                    rate,
                    Measure.rate(minimumSeconds: 0.3) {
                        cblas_sgemm(
                            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), 1, a, Int32(transA ? m : k), b, Int32(transB ? k : n), 0,
                            c.baseAddress, Int32(n))
                    })
            }
        }
        return GEMM(m: m, n: n, k: k, transA: transA, transB: transB, role: role, gflops: rate * 2 * Double(m * n * k) / 1e9)
    }

    /// CPU time of this process so far (all threads).
    static func cpuSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }

    /// Runs a child process to completion and returns its status and output (stdout and stderr).
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
