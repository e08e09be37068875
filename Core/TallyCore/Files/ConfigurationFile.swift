/// A settings type read from a JSON file: its defaults are `init()`, its checks `validate()`.
public protocol ConfigurationFile: Codable {
    init()
    /// Every value checked before use, with an error naming the key.
    func validate() throws(TallyError)
}

extension ConfigurationFile {
    /// Loads and checks the JSON file at `path`: every key is optional at any depth and takes the
    /// default; an unknown key or a value of the wrong type is an error naming the file, the key
    /// path and its line (``StrictJSON``); a value out of range names the file and the key.
    public static func load(path: String) throws(TallyError) -> Self {
        let config = try StrictJSON.load(Self.self, path: path, defaults: Self())
        do { try config.validate() } catch {
            throw TallyError(error.code, "configuration file \(path): \(error.message)", cause: error.cause)
        }
        return config
    }
}

extension ConfigurationFile {
    /// Writes the defaults, every key spelled out, to a new file at `path` (an existing file is
    /// kept unless `replace`): the starting point `init` commands hand an operator.
    public static func writeDefaults(to path: String, replace: Bool = false) throws(TallyError) {
        if !replace, (try? BoundedFile.read(path, maxBytes: 1 << 20, what: "configuration")) != nil {
            throw TallyError(.invalidArgument, "\(path) exists; pass --force to replace it")
        }
        try DurableFile.write(try StrictJSON.encode(Self()), to: path)
    }
}
