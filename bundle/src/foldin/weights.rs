//! The dense weights of a bundle (`dense.safetensors`, written by the
//! worker's `VarStore`), read as plain `f32` arrays with their shapes
//! checked, so that the serving side can apply a model's layers without
//! libtorch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::foldin::FoldInError;

/// A tensor: its shape and its values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// Every tensor of a safetensors file, by name.
#[derive(Debug)]
pub struct Weights {
    path: PathBuf,
    arrays: HashMap<String, Array>,
}

impl Weights {
    /// Reads `path` (safetensors, `f32` tensors).
    ///
    /// # Errors
    /// An unreadable file, a malformed one, or a tensor that is not `f32`.
    pub fn read(path: &Path) -> Result<Self, FoldInError> {
        let bad = |reason: String| FoldInError::Weights { path: path.to_owned(), reason };
        let bytes = std::fs::read(path).map_err(|e| bad(format!("read: {e}")))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("not safetensors: {e:?}")))?;
        let mut arrays = HashMap::new();
        for (name, view) in file.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!("{name} is {:?}, not F32", view.dtype())));
            }
            let values: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            arrays.insert(name, Array { shape: view.shape().to_vec(), values });
        }
        Ok(Self { path: path.to_owned(), arrays })
    }

    /// Whether a tensor `name` is there.
    pub fn has(&self, name: &str) -> bool {
        self.arrays.contains_key(name)
    }

    /// The shape of tensor `name`, when it is there.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.arrays.get(name).map(|a| a.shape.as_slice())
    }

    /// Tensor `name`, whose shape must be `shape`.
    ///
    /// # Errors
    /// [`FoldInError::Weights`] naming the tensor when it is missing or has
    /// another shape.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&Array, FoldInError> {
        let bad = |reason: String| FoldInError::Weights { path: self.path.clone(), reason };
        let array = self.arrays.get(name).ok_or_else(|| bad(format!("no tensor {name}")))?;
        if array.shape != shape {
            return Err(bad(format!("{name} has shape {:?}, expected {shape:?}", array.shape)));
        }
        Ok(array)
    }
}

/// A linear layer `y = W x + b` (`W` out × in, as torch stores it).
#[derive(Debug, Clone)]
pub struct Linear {
    w: Array,
    b: Option<Array>,
}

impl Linear {
    /// The linear layer `prefix.weight` (out × in) and `prefix.bias`, if any.
    ///
    /// # Errors
    /// A missing weight or a shape other than `out × in`.
    pub fn read(weights: &Weights, prefix: &str, out: usize, inp: usize) -> Result<Self, FoldInError> {
        let w = weights.get(&format!("{prefix}.weight"), &[out, inp])?.clone();
        let bias = format!("{prefix}.bias");
        let b = if weights.has(&bias) { Some(weights.get(&bias, &[out])?.clone()) } else { None };
        Ok(Self { w, b })
    }

    /// The width of its input.
    pub fn inputs(&self) -> usize {
        self.w.shape[1]
    }

    /// `W x + b`.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let inp = self.w.shape[1];
        debug_assert_eq!(x.len(), inp);
        self.w
            .values
            .chunks_exact(inp)
            .enumerate()
            .map(|(o, row)| {
                let dot: f32 = row.iter().zip(x).map(|(w, x)| w * x).sum();
                dot + self.b.as_ref().map_or(0.0, |b| b.values[o])
            })
            .collect()
    }
}
