// libFuzzer's entry points for `Harness.ledgerFile` (see FuzzHarnesses).
import FuzzHarnesses

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    Harness.ledgerFile.fuzz(start, count)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    Harness.ledgerFile.initialize(argc, argv)
}

/// SwiftPM links an executable with `<module>_main` as `main`: this one hands over to libFuzzer
/// (or, built with `-DFUZZ_REPLAY`, replays the inputs it is given).
@_cdecl("fuzz_ledger_file_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    #if FUZZ_REPLAY
        Harness.ledgerFile.replay(argc, argv)
    #else
        Harness.runDriver(argc, argv, fuzzTestOneInput)
    #endif
}
