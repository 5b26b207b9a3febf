// Shared by the fuzz targets: the readers take a path, so each input is written to a file
// private to this fuzzing process (in /dev/shm when there is one, to keep it off the disk).
use std::path::PathBuf;

pub fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("declaro-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, data).expect("write the fuzz input to a scratch file");
    path
}
