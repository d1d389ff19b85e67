//! A minimal ZIP writer (PKWARE APPNOTE 6.3): stored entries (no compression), no ZIP64, one central directory.
//! Enough for small archives that any unzip tool reads: the audit package of a transaction.

/// An archive being written in memory.
#[derive(Default)]
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// More than 65,535 entries, a name over 65,535 bytes or a file over 4 GiB: ZIP64 is not written here.
    #[error("the archive is too large for a plain ZIP: {0}")]
    TooLarge(&'static str),
}

impl ZipWriter {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file. `name` uses `/` between directories; the time is the DOS epoch, so the bytes of an archive
    /// depend only on its contents.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), ZipError> {
        let name_len = u16::try_from(name.len()).map_err(|_| ZipError::TooLarge("file name"))?;
        let size = u32::try_from(data.len()).map_err(|_| ZipError::TooLarge("file size"))?;
        let offset = u32::try_from(self.out.len()).map_err(|_| ZipError::TooLarge("archive"))?;
        self.entries = self
            .entries
            .checked_add(1)
            .ok_or(ZipError::TooLarge("entry count"))?;
        let crc = crc32fast::hash(data);
        // Version 2.0, flag bit 11 (names are UTF-8), method 0 (stored), DOS time 00:00 on 1980-01-01.
        let common = |buffer: &mut Vec<u8>| {
            buffer.extend_from_slice(&20u16.to_le_bytes());
            buffer.extend_from_slice(&0x0800u16.to_le_bytes());
            buffer.extend_from_slice(&0u16.to_le_bytes());
            buffer.extend_from_slice(&0u16.to_le_bytes());
            buffer.extend_from_slice(&0x0021u16.to_le_bytes());
            buffer.extend_from_slice(&crc.to_le_bytes());
            buffer.extend_from_slice(&size.to_le_bytes());
            buffer.extend_from_slice(&size.to_le_bytes());
            buffer.extend_from_slice(&name_len.to_le_bytes());
            buffer.extend_from_slice(&0u16.to_le_bytes());
        };
        self.out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut self.out);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(data);

        self.central
            .extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes()); // made by: 2.0
        common(&mut self.central);
        self.central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        self.central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        Ok(())
    }

    /// The finished archive.
    pub fn finish(mut self) -> Result<Vec<u8>, ZipError> {
        let central_offset =
            u32::try_from(self.out.len()).map_err(|_| ZipError::TooLarge("archive"))?;
        let central_size =
            u32::try_from(self.central.len()).map_err(|_| ZipError::TooLarge("archive"))?;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&central_size.to_le_bytes());
        self.out.extend_from_slice(&central_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        Ok(self.out)
    }
}
