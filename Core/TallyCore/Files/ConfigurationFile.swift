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
