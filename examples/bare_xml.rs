//! The baseline of the XML speed target: a bare single-threaded quick-xml event loop over a file
//! that unescapes every attribute value of every start and empty element, the least any reader
//! of the declaration format has to do. `cargo run --release --example bare_xml FILE`.

use quick_xml::events::Event;
use std::fs::File;
use std::io::BufReader;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: bare_xml FILE")?;
    let mut rdr =
        quick_xml::Reader::from_reader(BufReader::with_capacity(1 << 16, File::open(&path)?));
    let mut buf = Vec::with_capacity(1024);
    let (mut elements, mut values, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        match rdr.read_event_into(&mut buf)? {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                elements += 1;
                for a in e.attributes() {
                    values += 1;
                    bytes += a?.unescape_value()?.len() as u64;
                }
            }
            _ => {}
        }
        buf.clear();
    }
    println!("{elements} elements, {values} attribute values, {bytes} value bytes");
    Ok(())
}
