//! Dense parameters (for example the HGT weights): named tensors with their
//! own optimizer state, updated whole under one lock, and a version counter
//! that counts applied updates.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ps_client::dense::NamedTensor;

use crate::error::{PsError, Result};
use crate::optimizer::Optimizer;

/// One dense parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseParam {
    /// Shape.
    pub shape: Vec<u64>,
    /// Values, row-major.
    pub values: Vec<f32>,
    /// Optimizer state.
    pub state: Vec<f32>,
    /// Optimizer in use.
    pub optimizer: Optimizer,
    /// Updates applied.
    pub step: u64,
}

/// All dense parameters of a shard.
#[derive(Debug, Default)]
pub struct DenseStore {
    inner: Mutex<DenseInner>,
}

/// The guarded contents of a [`DenseStore`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DenseInner {
    /// Parameters by name.
    pub params: BTreeMap<String, DenseParam>,
    /// Updates applied across all parameters.
    pub version: u64,
}

impl DenseStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, DenseInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers parameters that do not exist yet; returns the names created.
    /// An existing parameter must have the same shape.
    ///
    /// # Errors
    /// `InvalidArgument` for a shape mismatch or non-finite values; nothing
    /// is created then.
    pub fn init(&self, tensors: Vec<NamedTensor>, optimizer: Optimizer) -> Result<Vec<String>> {
        let mut inner = self.lock();
        for (name, shape, values) in &tensors {
            if let Some(existing) = inner.params.get(name) {
                if &existing.shape != shape {
                    return Err(PsError::InvalidArgument(format!(
                        "dense {name}: shape {shape:?} differs from the existing {:?}",
                        existing.shape
                    )));
                }
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(PsError::InvalidArgument(format!("dense {name}: non-finite initial value")));
            }
        }
        let mut created = Vec::new();
        for (name, shape, values) in tensors {
            if inner.params.contains_key(&name) {
                continue;
            }
            let state = optimizer.init_state(values.len());
            inner.params.insert(name.clone(), DenseParam { shape, values, state, optimizer, step: 0 });
            created.push(name);
        }
        Ok(created)
    }

    /// Copies of the named parameters (all when `names` is empty), in order.
    ///
    /// # Errors
    /// `NotFound` for an unknown name.
    pub fn get(&self, names: &[String]) -> Result<(Vec<NamedTensor>, u64)> {
        let inner = self.lock();
        let pick = |name: &String| -> Result<NamedTensor> {
            let p = inner
                .params
                .get(name)
                .ok_or_else(|| PsError::NotFound(format!("dense parameter {name:?} does not exist")))?;
            Ok((name.clone(), p.shape.clone(), p.values.clone()))
        };
        let out = if names.is_empty() {
            inner.params.keys().map(pick).collect::<Result<_>>()?
        } else {
            names.iter().map(pick).collect::<Result<_>>()?
        };
        Ok((out, inner.version))
    }

    /// Shape of a parameter.
    pub fn shape(&self, name: &str) -> Option<Vec<u64>> {
        self.lock().params.get(name).map(|p| p.shape.clone())
    }

    /// Applies gradients to several parameters at once, all or nothing.
    ///
    /// # Errors
    /// `NotFound` for an unknown name, `InvalidArgument` for a shape mismatch
    /// or a non-finite gradient.
    pub fn apply(&self, grads: Vec<NamedTensor>) -> Result<u64> {
        let mut inner = self.lock();
        for (name, shape, grad) in &grads {
            let p = inner
                .params
                .get(name)
                .ok_or_else(|| PsError::NotFound(format!("dense parameter {name:?} does not exist")))?;
            if &p.shape != shape || p.values.len() != grad.len() {
                return Err(PsError::InvalidArgument(format!(
                    "dense {name}: gradient shape {shape:?} differs from the parameter's {:?}",
                    p.shape
                )));
            }
            if grad.iter().any(|g| !g.is_finite()) {
                return Err(PsError::InvalidArgument(format!("dense {name}: non-finite gradient")));
            }
        }
        for (name, _, grad) in grads {
            if let Some(p) = inner.params.get_mut(&name) {
                let DenseParam { values, state, optimizer, step, .. } = p;
                optimizer.apply(values, state, step, &grad);
            }
        }
        inner.version += 1;
        Ok(inner.version)
    }

    /// A copy of everything (checkpoints).
    pub fn snapshot(&self) -> DenseInner {
        self.lock().clone()
    }

    /// Replaces everything (restore).
    pub fn replace(&self, contents: DenseInner) {
        *self.lock() = contents;
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.lock().params.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
