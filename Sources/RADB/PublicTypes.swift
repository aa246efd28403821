import RADBEmbedding
import RADBNeural
import RADBStore
import RADBTraining
import RADBVision

// The types radb's public API takes and returns that are defined in its internal modules, named
// here so that `import RADB` is all a program needs: every type a caller writes down is the
// library's own name, and the modules beneath stay free to reorganise.

/// How a database is stored: map size, durability, lock timeout (`Database.create`, `open`).
public typealias StoreOptions = RADBStore.StoreOptions
/// The catalog fields of an item: path, content hash, label, size (`insert`, `updateMetadata`).
public typealias ItemMetadata = RADBStore.ItemMetadata
/// A stored item's id, anchor, metadata and time of adding (`Database.item(id:)`).
public typealias StoredItem = RADBStore.StoredItem
/// A decoded picture, 8-bit RGB (`Embedder.embed(image:)`, `ContactSheet.render`).
public typealias Image = RADBVision.Image
/// Width and height of a picture.
public typealias ImageSize = RADBVision.ImageSize
/// The network an `Embedder` runs (`Embedder.model`).
public typealias MobileNet = RADBNeural.MobileNet
/// The objective `Database.learn` trains with (`LearnOptions.loss`).
public typealias LossKind = RADBTraining.LossKind
/// Retrieval quality of a database against labelled queries (`Database.evaluate`).
public typealias EvaluationReport = RADBTraining.EvaluationReport
/// How a model wants its pictures (`Embedder.preprocessing`).
public typealias ImagePreprocessing = RADBEmbedding.ImagePreprocessing
/// The decode → preprocess → backbone pipeline (`Embedder.pipeline`).
public typealias FeaturePipeline = RADBEmbedding.FeaturePipeline
