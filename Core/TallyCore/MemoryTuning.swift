internal import CTallySystem

/// Process-wide allocator settings for the executables.
///
/// Tally moves multi-megabyte vectors every round. With glibc's defaults each such buffer is a
/// fresh `mmap`, so every round pays a page fault and a kernel page-clear per 4 KiB touched —
/// on virtual machines that costs more than the AES that fills the buffer. Raising the mmap and
/// trim thresholds keeps freed buffers in the heap for reuse. Call once at start-up.
public enum MemoryTuning {
    public static func keepLargeBuffers() {
        tally_keep_large_buffers()
    }
}

/// Standard output settings for the command-line tools.
public enum ConsoleOutput {
    /// Line-buffers stdout so progress lines appear as they happen, even when piped to a file.
    public static func lineBuffered() {
        tally_line_buffer_stdout()
    }
}
