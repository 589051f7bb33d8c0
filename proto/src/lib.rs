//! Tessera's wire protocol: the code generated from `proto/` and the file
//! descriptor set that backs gRPC server reflection. No logic lives here.

/// Types shared by every service: payloads, id lists, encodings.
pub mod common {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tessera.common.v1");
    }
}

/// The parameter-server service.
pub mod ps {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tessera.ps.v1");
    }
}

/// The coordinator service.
pub mod coordinator {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tessera.coordinator.v1");
    }
}

/// The recommend service.
pub mod recommend {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tessera.recommend.v1");
    }
}

/// The echo service that benchmarks use as a yardstick.
pub mod bench {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tessera.bench.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Tessera proto, for
/// `tonic_reflection` so that `grpcurl list` works against any server.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tessera_descriptor");
