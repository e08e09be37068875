public import TallyCore

/// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 70,000 28×28 greyscale images of clothing in
/// 10 classes, the federation's demonstration task. Read from the IDX files installed by the
/// Debian package `dataset-fashion-mnist`, so nothing is downloaded at run time.
public enum FashionMNIST {
    /// Where `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The Debian package that provides them.
    public static let debianPackage = "dataset-fashion-mnist"
    public static let imageSide = 28
    public static let featureCount = 28 * 28
    public static let classCount = 10
    /// Examples in the training split (the test split has 10,000).
    public static let trainCount = 60_000
    /// Class names in label order.
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    /// Largest split accepted (the real ones have 60,000 and 10,000): caps decompression.
    public static let maxExamplesPerSplit = 100_000

    /// Loads both splits. Pixels are scaled from 0...255 to 0...1.
    public static func load(directory: String = defaultDirectory) throws(TallyError) -> (train: Dataset, test: Dataset) {
        (try loadSplit(directory: directory, prefix: "train"), try loadSplit(directory: directory, prefix: "t10k"))
    }

    /// Loads one split: `prefix` is `"train"` or `"t10k"`. Accepts `<name>.gz` or plain `<name>`.
    public static func loadSplit(directory: String = defaultDirectory, prefix: String) throws(TallyError) -> Dataset {
        let imagesPath = try locate(directory: directory, name: "\(prefix)-images-idx3-ubyte")
        let labelsPath = try locate(directory: directory, name: "\(prefix)-labels-idx1-ubyte")
        let images = try IDXReader.read(
            path: imagesPath, expectedMagic: IDXReader.imagesMagic,
            maxBytes: 16 + maxExamplesPerSplit * featureCount)
        let labels = try IDXReader.read(
            path: labelsPath, expectedMagic: IDXReader.labelsMagic,
            maxBytes: 8 + maxExamplesPerSplit)
        guard images.dimensions[1] == imageSide, images.dimensions[2] == imageSide else {
            throw TallyError(.malformedDataset, "\(imagesPath): images are \(images.dimensions[1])×\(images.dimensions[2]), expected 28×28")
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw TallyError(
                .malformedDataset, "\(imagesPath) has \(images.dimensions[0]) images but \(labelsPath) has \(labels.dimensions[0]) labels")
        }
        let features = [Float](unsafeUninitializedCapacity: images.bytes.count) { out, initialized in
            images.bytes.withUnsafeBufferPointer { pixels in
                var i = 0
                while i < pixels.count {
                    out[i] = Float(pixels[i]) / 255 // exact at 0 and 1
                    i += 1
                }
            }
            initialized = images.bytes.count
        }
        do throws(TallyError) {
            return try Dataset(features: features, labels: labels.bytes, featureCount: featureCount, classCount: classCount)
        } catch {
            throw TallyError(error.code, "\(labelsPath): \(error.message)")
        }
    }

    private static func locate(directory: String, name: String) throws(TallyError) -> String {
        let base = directory.hasSuffix("/") ? directory + name : directory + "/" + name
        for candidate in [base + ".gz", base] where BoundedFile.isRegularFile(candidate) {
            return candidate
        }
        throw TallyError(
            .datasetNotFound,
            "Fashion-MNIST file \(base).gz not found; install the Debian package \(debianPackage) (apt-get install \(debianPackage)) or pass the directory that holds the IDX files"
        )
    }
}
