/// The release of this build, printed by every executable's `--version`. The wire protocol has
/// its own number (`Hello.protocol_version`); this one names the software.
public enum TallyVersion {
    public static let current = "0.5.0"
}
