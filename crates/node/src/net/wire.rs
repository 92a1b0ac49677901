//! What nodes say to each other, and how it is framed on a libp2p stream.
//!
//! One request-response protocol carries everything: pushes (consensus messages, proposed
//! block bodies, transaction batches, decided blocks for replicas) answered with a bare
//! acknowledgement, and two questions (a peer's head; a range of final blocks with their
//! certificates). A frame is a 4-byte little-endian length and the canonical encoding
//! (`couponchain_chain::encoding`); lengths above the bounds below are refused before any
//! allocation.

use couponchain_chain::block::{Block, CommitCertificate};
use couponchain_chain::{encoding, Hash, SignedTransaction};
use couponchain_consensus::{Equivocation, Message};
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};
use std::io;
use std::sync::Arc;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/couponchain/1");

/// A request frame: a block of 10,000 redemptions is ~3.5 MiB; `block.max_bytes` is at most
/// 16 MiB by default.
pub const MAX_REQUEST_BYTES: usize = 24 << 20;
/// A response frame: at most [`MAX_SYNC_BLOCKS`] blocks, cut short at ~32 MiB by the sender.
pub const MAX_RESPONSE_BYTES: usize = 96 << 20;
/// Blocks per catch-up answer.
pub const MAX_SYNC_BLOCKS: u32 = 64;
/// A sender stops adding blocks to an answer past this many bytes.
pub const SYNC_RESPONSE_BUDGET: usize = 32 << 20;

/// A final block with the certificate that made it final.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Certified {
    pub block: Block,
    pub cert: CommitCertificate,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// A proposal or a vote.
    Consensus(Message),
    /// The body of a proposed block (sent before its proposal).
    Block(Block),
    /// Admitted transactions, sent once to each validator by the node that admitted them.
    Txs(Vec<SignedTransaction>),
    /// A block that just became final, pushed to non-voting peers.
    Decided(Box<Certified>),
    /// What is your head?
    Status,
    /// Final blocks `from..` (at most `max`, and at most [`MAX_SYNC_BLOCKS`]).
    GetBlocks { from: u64, max: u32 },
    /// The body of the block with this hash, proposed at the height being decided (or
    /// final): asked by a validator that has the proposal but not the body.
    GetBody(Hash),
    /// Evidence of equivocation this validator found, sent once to every other validator:
    /// the one whose key it names learns that another process signs with it.
    Evidence(Box<Equivocation>),
    /// Any of the above, already encoded: a message for several peers is encoded once, by
    /// the sender's thread, not once per peer by the network task. Never decoded.
    #[serde(skip)]
    Encoded(Preencoded),
}

/// The canonical encoding of a [`Request`], made once for several recipients.
#[derive(Clone, Debug)]
pub struct Preencoded {
    pub kind: &'static str,
    pub bytes: Arc<Vec<u8>>,
}

impl Request {
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Consensus(_) => "consensus",
            Request::Block(_) => "block",
            Request::Txs(_) => "txs",
            Request::Decided(_) => "decided",
            Request::Status => "status",
            Request::GetBlocks { .. } => "get_blocks",
            Request::Evidence(_) => "evidence",
            Request::GetBody(_) => "get_body",
            Request::Encoded(p) => p.kind,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    Ack,
    Status {
        height: u64,
        hash: Hash,
    },
    Blocks(Vec<Certified>),
    /// The body asked for with `GetBody`.
    Body(Box<Block>),
    /// The request was understood but refused (e.g. the node is shutting down).
    Refused(String),
}

/// Length-prefixed canonical encoding with size bounds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {max}-byte bound"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_le_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_frame(io, MAX_REQUEST_BYTES).await?;
        encoding::decode(&buf).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_frame(io, MAX_RESPONSE_BYTES).await?;
        encoding::decode(&buf).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Request::Encoded(p) => write_frame(io, &p.bytes).await,
            other => write_frame(io, &encoding::encode(&other)).await,
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &encoding::encode(&res)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::futures::executor::block_on;
    use libp2p::request_response::Codec as _;

    #[test]
    fn frames_round_trip_and_encoded_requests_match_their_source() {
        let req = Request::GetBlocks { from: 7, max: 3 };
        let mut direct = Vec::new();
        block_on(Codec.write_request(&PROTOCOL, &mut direct, req.clone())).unwrap();
        let mut pre = Vec::new();
        let encoded = Request::Encoded(Preencoded {
            kind: req.kind(),
            bytes: Arc::new(encoding::encode(&req)),
        });
        block_on(Codec.write_request(&PROTOCOL, &mut pre, encoded)).unwrap();
        assert_eq!(direct, pre);
        let back = block_on(Codec.read_request(&PROTOCOL, &mut &direct[..])).unwrap();
        assert!(matches!(back, Request::GetBlocks { from: 7, max: 3 }));
    }

    #[test]
    fn oversized_and_garbage_frames_are_refused() {
        let mut huge = ((MAX_REQUEST_BYTES + 1) as u32).to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 16]);
        let e = block_on(Codec.read_request(&PROTOCOL, &mut &huge[..])).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let mut junk = 4u32.to_le_bytes().to_vec();
        junk.extend_from_slice(&[0xff; 4]);
        let e = block_on(Codec.read_request(&PROTOCOL, &mut &junk[..])).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // A truncated frame is an I/O error, not a panic.
        let short = 100u32.to_le_bytes();
        assert!(block_on(Codec.read_request(&PROTOCOL, &mut &short[..])).is_err());
    }
}
