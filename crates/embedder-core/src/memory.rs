//! Handing freed memory back to the system.

/// Returns the allocator's free pages to the kernel (glibc's `malloc_trim`; a no-op elsewhere).
/// Loading a model frees about as much as it keeps (the parsed graph, with every weight in it):
/// glibc keeps much of that in its arenas, where it counts in RSS until the process ends. Walks
/// every arena: 2–8 ms in a process that loaded and freed MiniLM.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: malloc_trim only returns free pages to the kernel, and is thread-safe.
        unsafe {
            malloc_trim(0);
        }
    }
}
