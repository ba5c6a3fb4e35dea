#pragma once
/// @file tflite_reader.hpp  A small, self-contained, bounds-checked reader of TFLite model files.
///
/// A .tflite file is a FlatBuffer (file identifier "TFL3") of the TFLite schema, version 3. This
/// reader walks the FlatBuffer by hand - no generated code, no flatbuffers library - and copies what
/// a converter needs into plain structs: operator codes, one or more subgraphs (tensors with shapes,
/// types, buffer indices and quantization; operators with their tensor lists and the option tables
/// of the common image-classifier ops) and the buffers (as byte ranges of the file it keeps).
///
/// Every read is checked against the file: offsets, vtables and their sizes, table inline sizes,
/// fields inside their table, vector lengths (overflow-safe), strings (with their NUL), external
/// buffer ranges, and the indices that tie the model together (tensor -> buffer, operator ->
/// operator code, operator / subgraph -> tensor). A malformed file gives a qint8::error naming the
/// file, the object and what was wrong, e.g.
///   "[qint8.manifest_parse] model.tflite: subgraph 0 tensor 12: shape vector at offset 0x1a3c
///    with 4 elements of 4 bytes runs past the end of the file (size 4096)".
/// Error codes: io (cannot read the file), manifest_parse (not a well-formed TFLite FlatBuffer),
/// manifest_version (schema version other than 3), manifest_field (an index out of range or
/// inconsistent quantization parameters). The total amount of decoded data is capped by a budget
/// proportional to the file size, so shared or overlapping vectors cannot blow up memory.
///
/// Schema facts used (tensorflow/lite/schema/schema.fbs; a table's vtable slot i is its i-th field,
/// a union field takes two slots: the type byte, then the table offset):
///   Model{version, operator_codes, subgraphs, description, buffers, metadata_buffer, metadata,
///         signature_defs}
///   OperatorCode{deprecated_builtin_code:byte, custom_code, version=1, builtin_code:int}
///     - the op is max(deprecated_builtin_code, builtin_code), as TFLite resolves it
///   SubGraph{tensors, inputs, outputs, operators, name}
///   Tensor{shape, type, buffer, name, quantization, is_variable, sparsity, shape_signature, ...}
///   QuantizationParameters{min, max, scale, zero_point, details (union), quantized_dimension}
///   Operator{opcode_index, inputs, outputs, builtin_options (union), custom_options, ...,
///            intermediates (slot 8)}
///   Buffer{data, offset:ulong, size:ulong}  (offset > 1: data lives at [offset, offset+size) of the file)
///   Metadata{name, buffer}
/// Operator and tensor index vectors use -1 for an absent optional input.

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <qint8/core/error.hpp>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tflite_reader.hpp reads FlatBuffers (little-endian) with plain loads: little-endian hosts only"
#endif

namespace qint8::convert::tflite {

// ------------------------------------------------------------------------------------------------
// Enums of the schema
// ------------------------------------------------------------------------------------------------

/// TensorType (a byte in the file; values outside this list are kept as they are).
enum class tensor_type : int8_t {
    float32 = 0,
    float16 = 1,
    int32 = 2,
    uint8 = 3,
    int64 = 4,
    string = 5,
    boolean = 6,
    int16 = 7,
    complex64 = 8,
    int8 = 9,
    float64 = 10,
    complex128 = 11,
    uint64 = 12,
    resource = 13,
    variant = 14,
    uint32 = 15,
    uint16 = 16,
    int4 = 17,
};

/// Schema name of a tensor type ("UINT8"), "UNKNOWN" for values the schema does not list.
inline const char* type_name(tensor_type t) noexcept {
    switch (t) {
        case tensor_type::float32: return "FLOAT32";
        case tensor_type::float16: return "FLOAT16";
        case tensor_type::int32: return "INT32";
        case tensor_type::uint8: return "UINT8";
        case tensor_type::int64: return "INT64";
        case tensor_type::string: return "STRING";
        case tensor_type::boolean: return "BOOL";
        case tensor_type::int16: return "INT16";
        case tensor_type::complex64: return "COMPLEX64";
        case tensor_type::int8: return "INT8";
        case tensor_type::float64: return "FLOAT64";
        case tensor_type::complex128: return "COMPLEX128";
        case tensor_type::uint64: return "UINT64";
        case tensor_type::resource: return "RESOURCE";
        case tensor_type::variant: return "VARIANT";
        case tensor_type::uint32: return "UINT32";
        case tensor_type::uint16: return "UINT16";
        case tensor_type::int4: return "INT4";
    }
    return "UNKNOWN";
}

/// Bytes per element of a tensor type; 0 where that is not a whole number of bytes or not fixed
/// (STRING, RESOURCE, VARIANT, INT4, unknown values).
inline std::size_t type_size(tensor_type t) noexcept {
    switch (t) {
        case tensor_type::uint8:
        case tensor_type::int8:
        case tensor_type::boolean: return 1;
        case tensor_type::float16:
        case tensor_type::int16:
        case tensor_type::uint16: return 2;
        case tensor_type::float32:
        case tensor_type::int32:
        case tensor_type::uint32: return 4;
        case tensor_type::int64:
        case tensor_type::uint64:
        case tensor_type::float64:
        case tensor_type::complex64: return 8;
        case tensor_type::complex128: return 16;
        default: return 0;
    }
}

/// BuiltinOperator values (int32 in the schema). The ones an image classifier meets; every value
/// has a name in builtin_name().
namespace builtin {
enum : int32_t {
    ADD = 0,
    AVERAGE_POOL_2D = 1,
    CONCATENATION = 2,
    CONV_2D = 3,
    DEPTHWISE_CONV_2D = 4,
    DEQUANTIZE = 6,
    FULLY_CONNECTED = 9,
    L2_NORMALIZATION = 11,
    LOGISTIC = 14,
    MAX_POOL_2D = 17,
    MUL = 18,
    RELU = 19,
    RELU_N1_TO_1 = 20,
    RELU6 = 21,
    RESHAPE = 22,
    RESIZE_BILINEAR = 23,
    SOFTMAX = 25,
    TANH = 28,
    CUSTOM = 32,
    PAD = 34,
    TRANSPOSE = 39,
    MEAN = 40,
    SUB = 41,
    DIV = 42,
    SQUEEZE = 43,
    STRIDED_SLICE = 45,
    CAST = 53,
    PRELU = 54,
    MAXIMUM = 55,
    MINIMUM = 57,
    PADV2 = 60,
    EXPAND_DIMS = 70,
    SUM = 74,
    REDUCE_MAX = 82,
    PACK = 83,
    LEAKY_RELU = 98,
    MIRROR_PAD = 100,
    QUANTIZE = 114,
    HARD_SWISH = 117,
    BATCH_MATMUL = 126,
    PLACEHOLDER_FOR_GREATER_OP_CODES = 127,
    GELU = 150,
};
}  // namespace builtin

/// Schema name of a BuiltinOperator value ("CONV_2D"); "UNKNOWN" outside the schema's list.
inline const char* builtin_name(int code) noexcept {
    static const char* const names[] = {
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",                // 0
        "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",           // 5
        "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",     // 10
        "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU",                       // 14
        "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN",                             // 20
        "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS",                         // 25
        "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",                          // 30
        "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",        // 35
        "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",                                             // 39
        "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",     // 44
        "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM",             // 48
        "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM",                                         // 53
        "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL",                                       // 58
        "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",                                 // 63
        "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL",                           // 68
        "LOG", "SUM", "SQRT", "RSQRT", "SHAPE",                                                   // 73
        "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX",                              // 78
        "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT",                            // 83
        "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE",                              // 88
        "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR",                    // 93
        "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V",                       // 98
        "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND",                                     // 103
        "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE",                                        // 108
        "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH",                      // 113
        "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND",          // 118
        "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES",  // 123
        "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D",                               // 128
        "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND",                             // 133
        "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",    // 138
        "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",           // 143
        "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE",             // 147
        "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM",   // 152
        "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR",                        // 156
        "RIGHT_SHIFT", "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE",                 // 161
        "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP",        // 165
        "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION",           // 169
        "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS",          // 172
        "STABLEHLO_AND", "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR",          // 176
        "STABLEHLO_LOG", "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR",                 // 180
        "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT",          // 184
        "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE",         // 188
        "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE",         // 192
        "STABLEHLO_PAD", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW",    // 195
        "STABLEHLO_SORT", "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE",           // 199
        "DILATE", "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW",                                 // 203
    };
    static_assert(sizeof(names) / sizeof(names[0]) == 206, "BuiltinOperator names 0..205");
    if (code >= 0 && code < 206) return names[code];
    if (code == 225) return "TEMP_STREAMING_CONV_2D";
    return "UNKNOWN";
}

/// BuiltinOptions union type indices (a ubyte in the file; 0 = NONE). The ones decoded into the
/// `options` variant, and a few option-less ones a classifier meets; options_type_name() knows all.
namespace options_type {
enum : uint8_t {
    NONE = 0,
    Conv2DOptions = 1,
    DepthwiseConv2DOptions = 2,
    Pool2DOptions = 5,
    FullyConnectedOptions = 8,
    SoftmaxOptions = 9,
    ConcatenationOptions = 10,
    AddOptions = 11,
    ReshapeOptions = 17,
    MulOptions = 21,
    PadOptions = 22,
    ReducerOptions = 27,
    SubOptions = 28,
    SqueezeOptions = 30,
    DequantizeOptions = 38,
    PadV2Options = 43,
    QuantizeOptions = 89,
    HardSwishOptions = 91,
};
}  // namespace options_type

/// Schema name of a BuiltinOptions union type index ("Conv2DOptions"); "UNKNOWN" past the list.
inline const char* options_type_name(int type) noexcept {
    static const char* const names[] = {
        "NONE", "Conv2DOptions", "DepthwiseConv2DOptions", "ConcatEmbeddingsOptions",                  // 0
        "LSHProjectionOptions", "Pool2DOptions", "SVDFOptions", "RNNOptions",                          // 4
        "FullyConnectedOptions", "SoftmaxOptions", "ConcatenationOptions", "AddOptions",               // 8
        "L2NormOptions", "LocalResponseNormalizationOptions", "LSTMOptions", "ResizeBilinearOptions",  // 12
        "CallOptions", "ReshapeOptions", "SkipGramOptions", "SpaceToDepthOptions",                     // 16
        "EmbeddingLookupSparseOptions", "MulOptions", "PadOptions", "GatherOptions",                   // 20
        "BatchToSpaceNDOptions", "SpaceToBatchNDOptions", "TransposeOptions", "ReducerOptions",        // 24
        "SubOptions", "DivOptions", "SqueezeOptions", "SequenceRNNOptions",                            // 28
        "StridedSliceOptions", "ExpOptions", "TopKV2Options", "SplitOptions",                          // 32
        "LogSoftmaxOptions", "CastOptions", "DequantizeOptions", "MaximumMinimumOptions",              // 36
        "ArgMaxOptions", "LessOptions", "NegOptions", "PadV2Options",                                  // 40
        "GreaterOptions", "GreaterEqualOptions", "LessEqualOptions", "SelectOptions",                  // 44
        "SliceOptions", "TransposeConvOptions", "SparseToDenseOptions", "TileOptions",                 // 48
        "ExpandDimsOptions", "EqualOptions", "NotEqualOptions", "ShapeOptions",                        // 52
        "PowOptions", "ArgMinOptions", "FakeQuantOptions", "PackOptions",                              // 56
        "LogicalOrOptions", "OneHotOptions", "LogicalAndOptions", "LogicalNotOptions",                 // 60
        "UnpackOptions", "FloorDivOptions", "SquareOptions", "ZerosLikeOptions",                       // 64
        "FillOptions", "BidirectionalSequenceLSTMOptions", "BidirectionalSequenceRNNOptions",          // 68
        "UnidirectionalSequenceLSTMOptions", "FloorModOptions", "RangeOptions",                        // 71
        "ResizeNearestNeighborOptions", "LeakyReluOptions", "SquaredDifferenceOptions",                // 74
        "MirrorPadOptions", "AbsOptions", "SplitVOptions", "UniqueOptions",                            // 77
        "ReverseV2Options", "AddNOptions", "GatherNdOptions", "CosOptions",                            // 81
        "WhereOptions", "RankOptions", "ReverseSequenceOptions", "MatrixDiagOptions",                  // 85
        "QuantizeOptions", "MatrixSetDiagOptions", "HardSwishOptions", "IfOptions",                    // 89
        "WhileOptions", "DepthToSpaceOptions", "NonMaxSuppressionV4Options",                           // 93
        "NonMaxSuppressionV5Options", "ScatterNdOptions", "SelectV2Options", "DensifyOptions",         // 96
        "SegmentSumOptions", "BatchMatMulOptions", "CumsumOptions", "CallOnceOptions",                 // 100
        "BroadcastToOptions", "Rfft2dOptions", "Conv3DOptions", "HashtableOptions",                    // 104
        "HashtableFindOptions", "HashtableImportOptions", "HashtableSizeOptions", "VarHandleOptions",  // 108
        "ReadVariableOptions", "AssignVariableOptions", "RandomOptions", "BucketizeOptions",           // 112
        "GeluOptions", "DynamicUpdateSliceOptions", "UnsortedSegmentProdOptions",                      // 116
        "UnsortedSegmentMaxOptions", "UnsortedSegmentMinOptions", "UnsortedSegmentSumOptions",         // 119
        "ATan2Options", "SignOptions", "BitcastOptions", "BitwiseXorOptions", "RightShiftOptions",     // 122
    };
    static_assert(sizeof(names) / sizeof(names[0]) == 127, "BuiltinOptions names 0..126");
    if (type >= 0 && type < 127) return names[type];
    return "UNKNOWN";
}

/// Padding (byte).
enum class padding : int8_t { same = 0, valid = 1 };
/// ActivationFunctionType (byte).
enum class activation : int8_t { none = 0, relu = 1, relu_n1_to_1 = 2, relu6 = 3, tanh = 4, sign_bit = 5 };

inline const char* activation_name(activation a) noexcept {
    switch (a) {
        case activation::none: return "NONE";
        case activation::relu: return "RELU";
        case activation::relu_n1_to_1: return "RELU_N1_TO_1";
        case activation::relu6: return "RELU6";
        case activation::tanh: return "TANH";
        case activation::sign_bit: return "SIGN_BIT";
    }
    return "UNKNOWN";
}

// ------------------------------------------------------------------------------------------------
// Option tables (field names as in the schema; defaults as the schema gives them)
// ------------------------------------------------------------------------------------------------

struct conv2d_options {  // Conv2DOptions, union type 1
    padding pad = padding::same;
    int32_t stride_w = 0;
    int32_t stride_h = 0;
    activation fused_activation_function = activation::none;
    int32_t dilation_w_factor = 1;
    int32_t dilation_h_factor = 1;
    tensor_type quantized_bias_type = tensor_type::float32;  // newer files; FLOAT32 (0) = not set
};

struct depthwise_conv2d_options {  // DepthwiseConv2DOptions, union type 2
    padding pad = padding::same;
    int32_t stride_w = 0;
    int32_t stride_h = 0;
    int32_t depth_multiplier = 0;
    activation fused_activation_function = activation::none;
    int32_t dilation_w_factor = 1;
    int32_t dilation_h_factor = 1;
};

struct pool2d_options {  // Pool2DOptions, union type 5 (AVERAGE_POOL_2D, MAX_POOL_2D, L2_POOL_2D)
    padding pad = padding::same;
    int32_t stride_w = 0;
    int32_t stride_h = 0;
    int32_t filter_width = 0;
    int32_t filter_height = 0;
    activation fused_activation_function = activation::none;
};

struct fully_connected_options {  // FullyConnectedOptions, union type 8
    activation fused_activation_function = activation::none;
    int8_t weights_format = 0;  // 0 DEFAULT, 1 SHUFFLED4x16INT8
    bool keep_num_dims = false;
    bool asymmetric_quantize_inputs = false;
    tensor_type quantized_bias_type = tensor_type::float32;
};

struct softmax_options {  // SoftmaxOptions, union type 9
    float beta = 0.f;
};

struct concatenation_options {  // ConcatenationOptions, union type 10
    int32_t axis = 0;
    activation fused_activation_function = activation::none;
};

struct add_options {  // AddOptions, union type 11
    activation fused_activation_function = activation::none;
    bool pot_scale_int16 = true;
};

struct reshape_options {  // ReshapeOptions, union type 17
    bool has_new_shape = false;  // the field may be absent (then the second input tensor gives the shape)
    std::vector<int32_t> new_shape;
};

struct mul_options {  // MulOptions, union type 21
    activation fused_activation_function = activation::none;
};

struct reducer_options {  // ReducerOptions, union type 27 (MEAN, SUM, REDUCE_MAX, ...)
    bool keep_dims = false;
};

struct sub_options {  // SubOptions, union type 28
    activation fused_activation_function = activation::none;
    bool pot_scale_int16 = true;
};

struct squeeze_options {  // SqueezeOptions, union type 30
    std::vector<int32_t> squeeze_dims;
};

/// The decoded builtin options of an operator; std::monostate when the op has none (type NONE) or
/// the type is one this reader does not decode (op::options_type still says which it was).
using options = std::variant<std::monostate, conv2d_options, depthwise_conv2d_options, pool2d_options,
                             fully_connected_options, softmax_options, concatenation_options, add_options,
                             reshape_options, mul_options, reducer_options, sub_options, squeeze_options>;

// ------------------------------------------------------------------------------------------------
// Model structs
// ------------------------------------------------------------------------------------------------

struct quantization_params {
    std::vector<float> min, max;
    std::vector<float> scale;
    std::vector<int64_t> zero_point;
    int32_t quantized_dimension = 0;
    uint8_t details_type = 0;  // QuantizationDetails union type; nonzero = custom quantization (1)
};

struct tensor {
    std::string name;
    std::vector<int32_t> shape;
    std::vector<int32_t> shape_signature;  // -1 for unknown dims; empty when the file has none
    tensor_type type = tensor_type::float32;
    uint32_t buffer = 0;  // index into model::buffers (0 = the empty sentinel for activations)
    bool has_quantization = false;
    quantization_params quantization;  // per-tensor: one scale; per-axis: one per shape[quantized_dimension]
    bool is_variable = false;
    bool is_sparse = false;  // has SparsityParameters (not decoded)
};

struct operator_code {
    int32_t builtin = 0;  // resolved: max(deprecated_builtin_code, builtin_code)
    int8_t deprecated_builtin_code = 0;
    int32_t builtin_code = 0;
    std::string custom_code;
    int32_t version = 1;
};

struct byte_range {
    std::size_t offset = 0;  // into model::bytes
    std::size_t size = 0;
};

struct op {
    uint32_t opcode_index = 0;
    int32_t builtin = 0;  // operator_codes[opcode_index].builtin
    std::vector<int32_t> inputs;   // tensor indices, -1 = optional input absent
    std::vector<int32_t> outputs;  // tensor indices
    std::vector<int32_t> intermediates;
    uint8_t options_type = 0;         // raw BuiltinOptions union type index
    bool has_options_table = false;   // the union value (table) is present
    options opts;                     // decoded when the type is one of the variant's
    byte_range custom_options;        // inline custom_options bytes (CUSTOM ops), empty otherwise
};

struct subgraph {
    std::string name;
    std::vector<tensor> tensors;
    std::vector<int32_t> inputs;
    std::vector<int32_t> outputs;
    std::vector<op> ops;
};

struct buffer {
    std::size_t offset = 0;  // into model::bytes
    std::size_t size = 0;
    bool external = false;  // Buffer{offset, size} form (data outside the FlatBuffer)
};

struct metadata_entry {
    std::string name;
    uint32_t buffer = 0;
};

/// Bytes of a buffer, pointing into model::bytes (valid while the model lives and is not modified).
struct byte_view {
    const uint8_t* data = nullptr;
    std::size_t size = 0;
};

struct model {
    std::string origin;          // file name used in messages
    std::vector<uint8_t> bytes;  // the whole file
    uint32_t version = 0;        // schema version (always 3 after a successful parse)
    std::string description;
    std::vector<operator_code> operator_codes;
    std::vector<subgraph> subgraphs;  // [0] is the main graph
    std::vector<buffer> buffers;
    std::vector<metadata_entry> metadata;

    /// Bytes of buffer `index` (throws errc::invalid_argument when out of range).
    byte_view data(uint32_t index) const {
        if (index >= buffers.size())
            throw error(errc::invalid_argument, origin + ": buffer index " + std::to_string(index) +
                                                    " out of range (" + std::to_string(buffers.size()) + " buffers)");
        const buffer& b = buffers[index];
        return {b.size ? bytes.data() + b.offset : nullptr, b.size};
    }
    /// Bytes of a tensor's buffer (size 0 for activations). Compare the size with the shape and
    /// type before trusting it: the reader checks ranges, not that the sizes agree.
    byte_view data(const tensor& t) const { return data(t.buffer); }
    byte_view data(const byte_range& r) const { return {r.size ? bytes.data() + r.offset : nullptr, r.size}; }
};

// ------------------------------------------------------------------------------------------------
// FlatBuffer access, every read checked
// ------------------------------------------------------------------------------------------------

namespace detail_tflite {

inline std::string hex(std::size_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%zx", v);
    return buf;
}

class flatbuffer {
public:
    static constexpr std::size_t absent = std::numeric_limits<std::size_t>::max();

    struct table {
        std::size_t pos = 0;  // start of the table (its soffset to the vtable)
        std::size_t vtable = 0;
        uint16_t vtable_size = 0;
        uint16_t inline_size = 0;
    };
    struct vec {
        std::size_t pos = 0;  // the length field
        uint32_t count = 0;
        std::size_t data() const { return pos + 4; }
    };

    flatbuffer(const uint8_t* p, std::size_t n, const std::string& origin)
        : p_(p), n_(n), origin_(origin), budget_(n / 8 * 256 + (std::size_t(1) << 20)) {}

    std::size_t size() const { return n_; }
    const uint8_t* bytes() const { return p_; }

    [[noreturn]] void fail(errc code, const std::string& where, const std::string& msg) const {
        throw error(code, origin_ + ": " + (where.empty() ? std::string() : where + ": ") + msg);
    }

    std::string past_end() const { return "runs past the end of the file (size " + std::to_string(n_) + ")"; }

    bool fits(std::size_t pos, std::size_t len) const { return pos <= n_ && len <= n_ - pos; }

    /// Unchecked load: callers have checked fits(pos, sizeof(T)).
    template <class T>
    T load(std::size_t pos) const {
        static_assert(std::is_trivially_copyable_v<T>);
        T v;
        std::memcpy(&v, p_ + pos, sizeof(T));
        return v;
    }

    /// Charge decoded output against the budget (bytes of structs and elements produced).
    void spend(std::size_t units, const std::string& where) {
        if (units > budget_)
            fail(errc::tflite, where,
                 "the file refers to more data than its size allows (shared or overlapping tables or vectors)");
        budget_ -= units;
    }

    /// Follow the uoffset stored at `at` (already known to be inside the file).
    std::size_t follow(std::size_t at, const std::string& where, const std::string& what) const {
        if (!fits(at, 4)) fail(errc::tflite, where, what + " offset field at " + hex(at) + " " + past_end());
        const uint32_t off = load<uint32_t>(at);
        if (off == 0 || off > 0x7fffffffu)
            fail(errc::tflite, where, what + " offset at " + hex(at) + " is invalid (" + std::to_string(off) + ")");
        const std::size_t target = at + off;
        if (target >= n_)
            fail(errc::tflite, where,
                 what + " offset at " + hex(at) + " points to " + hex(target) + ", past the end of the file (size " +
                     std::to_string(n_) + ")");
        return target;
    }

    table open_table(std::size_t pos, const std::string& where, const std::string& what) {
        spend(16, where);
        if (!fits(pos, 4)) fail(errc::tflite, where, what + " table at " + hex(pos) + " " + past_end());
        const int32_t so = load<int32_t>(pos);
        const int64_t vt = static_cast<int64_t>(pos) - static_cast<int64_t>(so);
        if (vt < 0 || !fits(static_cast<std::size_t>(vt), 4))
            fail(errc::tflite, where,
                 what + " table at " + hex(pos) + ": vtable offset " + std::to_string(so) +
                     " points outside the file (size " + std::to_string(n_) + ")");
        table t;
        t.pos = pos;
        t.vtable = static_cast<std::size_t>(vt);
        t.vtable_size = load<uint16_t>(t.vtable);
        t.inline_size = load<uint16_t>(t.vtable + 2);
        if (t.vtable_size < 4 || t.vtable_size % 2 != 0)
            fail(errc::tflite, where,
                 what + " table at " + hex(pos) + ": vtable at " + hex(t.vtable) + " has an invalid size (" +
                     std::to_string(t.vtable_size) + " bytes)");
        if (!fits(t.vtable, t.vtable_size))
            fail(errc::tflite, where,
                 what + " table at " + hex(pos) + ": vtable at " + hex(t.vtable) + " of " +
                     std::to_string(t.vtable_size) + " bytes " + past_end());
        if (t.inline_size < 4)
            fail(errc::tflite, where,
                 what + " table at " + hex(pos) + " declares an inline size of " + std::to_string(t.inline_size) +
                     " bytes (at least 4 needed)");
        if (!fits(pos, t.inline_size))
            fail(errc::tflite, where,
                 what + " table at " + hex(pos) + " with inline size " + std::to_string(t.inline_size) + " " +
                     past_end());
        return t;
    }

    /// Position of field `slot` (of `width` bytes) in table `t`, or `absent`.
    std::size_t field(const table& t, int slot, std::size_t width, const std::string& where,
                      const std::string& what) const {
        const std::size_t entry = 4 + 2 * static_cast<std::size_t>(slot);
        if (entry + 2 > t.vtable_size) return absent;
        const uint16_t vo = load<uint16_t>(t.vtable + entry);
        if (vo == 0) return absent;
        if (static_cast<std::size_t>(vo) + width > t.inline_size)
            fail(errc::tflite, where,
                 what + " field (slot " + std::to_string(slot) + ") at table offset " + std::to_string(vo) +
                     " lies outside its table at " + hex(t.pos) + " (inline size " + std::to_string(t.inline_size) +
                     ")");
        return t.pos + vo;
    }

    template <class T>
    T scalar(const table& t, int slot, T def, const std::string& where, const std::string& what) const {
        const std::size_t f = field(t, slot, sizeof(T), where, what);
        return f == absent ? def : load<T>(f);
    }

    bool boolean(const table& t, int slot, bool def, const std::string& where, const std::string& what) const {
        return scalar<uint8_t>(t, slot, def ? 1 : 0, where, what) != 0;
    }

    std::optional<std::size_t> target(const table& t, int slot, const std::string& where,
                                      const std::string& what) const {
        const std::size_t f = field(t, slot, 4, where, what);
        if (f == absent) return std::nullopt;
        return follow(f, where, what);
    }

    std::optional<table> sub_table(const table& t, int slot, const std::string& where, const std::string& what) {
        const auto at = target(t, slot, where, what);
        if (!at) return std::nullopt;
        return open_table(*at, where, what);
    }

    vec vector_at(std::size_t pos, std::size_t elem, const std::string& where, const std::string& what) const {
        if (!fits(pos, 4)) fail(errc::tflite, where, what + " vector at offset " + hex(pos) + " " + past_end());
        const uint32_t count = load<uint32_t>(pos);
        const std::size_t avail = n_ - pos - 4;
        if (count > avail / elem)
            fail(errc::tflite, where,
                 what + " vector at offset " + hex(pos) + " with " + std::to_string(count) + " elements of " +
                     std::to_string(elem) + " bytes " + past_end());
        return {pos, count};
    }

    std::optional<vec> vector(const table& t, int slot, std::size_t elem, const std::string& where,
                              const std::string& what) const {
        const auto at = target(t, slot, where, what);
        if (!at) return std::nullopt;
        return vector_at(*at, elem, where, what);
    }

    template <class T>
    std::vector<T> scalars(const table& t, int slot, const std::string& where, const std::string& what) {
        const auto v = vector(t, slot, sizeof(T), where, what);
        std::vector<T> out;
        if (!v) return out;
        spend(static_cast<std::size_t>(v->count) * sizeof(T), where);
        out.resize(v->count);
        if (v->count) std::memcpy(out.data(), p_ + v->data(), static_cast<std::size_t>(v->count) * sizeof(T));
        return out;
    }

    std::string string(const table& t, int slot, const std::string& where, const std::string& what) {
        const auto at = target(t, slot, where, what);
        if (!at) return {};
        if (!fits(*at, 4)) fail(errc::tflite, where, what + " string at offset " + hex(*at) + " " + past_end());
        const uint32_t len = load<uint32_t>(*at);
        if (!fits(*at + 4, static_cast<std::size_t>(len) + 1))
            fail(errc::tflite, where,
                 what + " string at offset " + hex(*at) + " of length " + std::to_string(len) +
                     " (plus its NUL) " + past_end());
        if (p_[*at + 4 + len] != 0)
            fail(errc::tflite, where, what + " string at offset " + hex(*at) + " is not NUL-terminated");
        spend(len, where);
        return std::string(reinterpret_cast<const char*>(p_ + *at + 4), len);
    }

    /// Element i of a vector of tables.
    table element(const vec& v, uint32_t i, const std::string& where, const std::string& what) {
        return open_table(follow(v.data() + 4 * static_cast<std::size_t>(i), where, what), where, what);
    }

private:
    const uint8_t* p_;
    std::size_t n_;
    const std::string& origin_;
    std::size_t budget_;
};

inline void check_indices(const flatbuffer& fb, const std::vector<int32_t>& idx, std::size_t tensors, bool allow_absent,
                          const std::string& where, const char* what) {
    for (std::size_t i = 0; i < idx.size(); ++i) {
        const int32_t x = idx[i];
        if (allow_absent && x == -1) continue;
        if (x < 0 || static_cast<std::size_t>(x) >= tensors)
            fb.fail(errc::tflite, where,
                    std::string(what) + " " + std::to_string(i) + ": tensor index " + std::to_string(x) +
                        " out of range (subgraph has " + std::to_string(tensors) + " tensors)");
    }
}

inline quantization_params read_quantization(flatbuffer& fb, const flatbuffer::table& q, const std::vector<int32_t>& shape,
                                             const std::string& where) {
    quantization_params r;
    r.min = fb.scalars<float>(q, 0, where, "quantization min");
    r.max = fb.scalars<float>(q, 1, where, "quantization max");
    r.scale = fb.scalars<float>(q, 2, where, "quantization scale");
    r.zero_point = fb.scalars<int64_t>(q, 3, where, "quantization zero_point");
    r.details_type = fb.scalar<uint8_t>(q, 4, 0, where, "quantization details_type");
    if (r.details_type != 0) (void)fb.target(q, 5, where, "quantization details");
    r.quantized_dimension = fb.scalar<int32_t>(q, 6, 0, where, "quantized_dimension");
    if (!r.scale.empty() && !r.zero_point.empty() && r.scale.size() != r.zero_point.size())
        fb.fail(errc::tflite, where,
                "quantization has " + std::to_string(r.scale.size()) + " scales and " +
                    std::to_string(r.zero_point.size()) + " zero points (must be equal)");
    if (r.scale.size() > 1) {
        const int32_t d = r.quantized_dimension;
        if (d < 0 || static_cast<std::size_t>(d) >= shape.size())
            fb.fail(errc::tflite, where,
                    "quantized_dimension " + std::to_string(d) + " out of range for a tensor of rank " +
                        std::to_string(shape.size()));
        if (shape[static_cast<std::size_t>(d)] < 0 ||
            static_cast<std::size_t>(shape[static_cast<std::size_t>(d)]) != r.scale.size())
            fb.fail(errc::tflite, where,
                    "per-axis quantization has " + std::to_string(r.scale.size()) + " scales but dimension " +
                        std::to_string(d) + " has size " + std::to_string(shape[static_cast<std::size_t>(d)]));
    }
    return r;
}

/// One options table being read: the fields' readers with the table and the place named.
struct options_fields {
    flatbuffer& fb;
    const flatbuffer::table& t;
    const std::string& where;

    padding pad(int slot) const { return static_cast<padding>(fb.scalar<int8_t>(t, slot, 0, where, "padding")); }
    activation act(int slot) const {
        return static_cast<activation>(fb.scalar<int8_t>(t, slot, 0, where, "fused_activation_function"));
    }
    int32_t i32(int slot, int32_t def, const char* what) const { return fb.scalar<int32_t>(t, slot, def, where, what); }
    bool boolean(int slot, bool def, const char* what) const { return fb.boolean(t, slot, def, where, what); }
    tensor_type bias_type(int slot) const {
        return static_cast<tensor_type>(fb.scalar<int8_t>(t, slot, 0, where, "quantized_bias_type"));
    }
};

// One reader per decoded options table; the slots are the schema's field order.

inline options read_conv2d_options(const options_fields& f) {
    conv2d_options o;
    o.pad = f.pad(0);
    o.stride_w = f.i32(1, 0, "stride_w");
    o.stride_h = f.i32(2, 0, "stride_h");
    o.fused_activation_function = f.act(3);
    o.dilation_w_factor = f.i32(4, 1, "dilation_w_factor");
    o.dilation_h_factor = f.i32(5, 1, "dilation_h_factor");
    o.quantized_bias_type = f.bias_type(6);
    return o;
}

inline options read_depthwise_conv2d_options(const options_fields& f) {
    depthwise_conv2d_options o;
    o.pad = f.pad(0);
    o.stride_w = f.i32(1, 0, "stride_w");
    o.stride_h = f.i32(2, 0, "stride_h");
    o.depth_multiplier = f.i32(3, 0, "depth_multiplier");
    o.fused_activation_function = f.act(4);
    o.dilation_w_factor = f.i32(5, 1, "dilation_w_factor");
    o.dilation_h_factor = f.i32(6, 1, "dilation_h_factor");
    return o;
}

inline options read_pool2d_options(const options_fields& f) {
    pool2d_options o;
    o.pad = f.pad(0);
    o.stride_w = f.i32(1, 0, "stride_w");
    o.stride_h = f.i32(2, 0, "stride_h");
    o.filter_width = f.i32(3, 0, "filter_width");
    o.filter_height = f.i32(4, 0, "filter_height");
    o.fused_activation_function = f.act(5);
    return o;
}

inline options read_fully_connected_options(const options_fields& f) {
    fully_connected_options o;
    o.fused_activation_function = f.act(0);
    o.weights_format = f.fb.scalar<int8_t>(f.t, 1, 0, f.where, "weights_format");
    o.keep_num_dims = f.boolean(2, false, "keep_num_dims");
    o.asymmetric_quantize_inputs = f.boolean(3, false, "asymmetric_quantize_inputs");
    o.quantized_bias_type = f.bias_type(4);
    return o;
}

inline options read_softmax_options(const options_fields& f) {
    softmax_options o;
    o.beta = f.fb.scalar<float>(f.t, 0, 0.f, f.where, "beta");
    return o;
}

inline options read_concatenation_options(const options_fields& f) {
    concatenation_options o;
    o.axis = f.i32(0, 0, "axis");
    o.fused_activation_function = f.act(1);
    return o;
}

inline options read_add_options(const options_fields& f) {
    add_options o;
    o.fused_activation_function = f.act(0);
    o.pot_scale_int16 = f.boolean(1, true, "pot_scale_int16");
    return o;
}

inline options read_reshape_options(const options_fields& f) {
    reshape_options o;
    o.has_new_shape = f.fb.field(f.t, 0, 4, f.where, "new_shape") != flatbuffer::absent;
    o.new_shape = f.fb.scalars<int32_t>(f.t, 0, f.where, "new_shape");
    return o;
}

inline options read_mul_options(const options_fields& f) {
    mul_options o;
    o.fused_activation_function = f.act(0);
    return o;
}

inline options read_reducer_options(const options_fields& f) {
    reducer_options o;
    o.keep_dims = f.boolean(0, false, "keep_dims");
    return o;
}

inline options read_sub_options(const options_fields& f) {
    sub_options o;
    o.fused_activation_function = f.act(0);
    o.pot_scale_int16 = f.boolean(1, true, "pot_scale_int16");
    return o;
}

inline options read_squeeze_options(const options_fields& f) {
    squeeze_options o;
    o.squeeze_dims = f.fb.scalars<int32_t>(f.t, 0, f.where, "squeeze_dims");
    return o;
}

using options_reader = options (*)(const options_fields&);

/// BuiltinOptions type -> its reader; types missing here are kept undecoded.
inline const std::map<uint8_t, options_reader>& options_readers() {
    static const std::map<uint8_t, options_reader> table = {
        {options_type::Conv2DOptions, read_conv2d_options},
        {options_type::DepthwiseConv2DOptions, read_depthwise_conv2d_options},
        {options_type::Pool2DOptions, read_pool2d_options},
        {options_type::FullyConnectedOptions, read_fully_connected_options},
        {options_type::SoftmaxOptions, read_softmax_options},
        {options_type::ConcatenationOptions, read_concatenation_options},
        {options_type::AddOptions, read_add_options},
        {options_type::ReshapeOptions, read_reshape_options},
        {options_type::MulOptions, read_mul_options},
        {options_type::ReducerOptions, read_reducer_options},
        {options_type::SubOptions, read_sub_options},
        {options_type::SqueezeOptions, read_squeeze_options},
    };
    return table;
}

inline options read_options(flatbuffer& fb, uint8_t type, const flatbuffer::table& t, const std::string& where) {
    const auto r = options_readers().find(type);
    if (r == options_readers().end()) return std::monostate{};
    return r->second(options_fields{fb, t, where});
}

inline bool decoded_options_type(uint8_t type) {
    switch (type) {
        case options_type::Conv2DOptions:
        case options_type::DepthwiseConv2DOptions:
        case options_type::Pool2DOptions:
        case options_type::FullyConnectedOptions:
        case options_type::SoftmaxOptions:
        case options_type::ConcatenationOptions:
        case options_type::AddOptions:
        case options_type::ReshapeOptions:
        case options_type::MulOptions:
        case options_type::ReducerOptions:
        case options_type::SubOptions:
        case options_type::SqueezeOptions: return true;
        default: return false;
    }
}

/// An empty option table of a decoded type: what the op gets when the union value is absent.
inline options default_options(uint8_t type) {
    switch (type) {
        case options_type::Conv2DOptions: return conv2d_options{};
        case options_type::DepthwiseConv2DOptions: return depthwise_conv2d_options{};
        case options_type::Pool2DOptions: return pool2d_options{};
        case options_type::FullyConnectedOptions: return fully_connected_options{};
        case options_type::SoftmaxOptions: return softmax_options{};
        case options_type::ConcatenationOptions: return concatenation_options{};
        case options_type::AddOptions: return add_options{};
        case options_type::ReshapeOptions: return reshape_options{};
        case options_type::MulOptions: return mul_options{};
        case options_type::ReducerOptions: return reducer_options{};
        case options_type::SubOptions: return sub_options{};
        case options_type::SqueezeOptions: return squeeze_options{};
        default: return std::monostate{};
    }
}

}  // namespace detail_tflite

// ------------------------------------------------------------------------------------------------
// parse / read
// ------------------------------------------------------------------------------------------------

namespace detail_tflite {

/// At least 8 bytes, and "TFL3" at byte 4 (shown escaped when it is something else).
inline void check_identifier(const flatbuffer& fb, const model& m) {
    const std::size_t n = m.bytes.size();
    if (n < 8)
        fb.fail(errc::tflite, "",
                "file of " + std::to_string(n) +
                    " bytes is too short for a TFLite model (a root offset and the \"TFL3\" identifier need 8)");
    if (std::memcmp(m.bytes.data() + 4, "TFL3", 4) != 0) {
        std::string id;
        for (int i = 4; i < 8; ++i) {
            const uint8_t c = m.bytes[static_cast<std::size_t>(i)];
            if (c >= 0x20 && c < 0x7f) id += static_cast<char>(c);
            else {
                char b[8];
                std::snprintf(b, sizeof b, "\\x%02x", c);
                id += b;
            }
        }
        fb.fail(errc::tflite, "", "file identifier is \"" + id + "\", expected \"TFL3\": not a TFLite model");
    }
}

/// Model.operator_codes (slot 1).
inline void read_operator_codes(flatbuffer& fb, const flatbuffer::table& root, model& m) {
    const auto codes = fb.vector(root, 1, 4, "model", "operator_codes");
    if (!codes) return;
    for (uint32_t i = 0; i < codes->count; ++i) {
        const std::string where = "operator code " + std::to_string(i);
        fb.spend(sizeof(operator_code), where);
        const auto t = fb.element(*codes, i, where, "OperatorCode");
        operator_code c;
        c.deprecated_builtin_code = fb.scalar<int8_t>(t, 0, 0, where, "deprecated_builtin_code");
        c.custom_code = fb.string(t, 1, where, "custom_code");
        c.version = fb.scalar<int32_t>(t, 2, 1, where, "version");
        c.builtin_code = fb.scalar<int32_t>(t, 3, 0, where, "builtin_code");
        c.builtin = std::max<int32_t>(c.deprecated_builtin_code, c.builtin_code);
        m.operator_codes.push_back(std::move(c));
    }
}

/// Model.buffers (slot 4): inside the FlatBuffer, or (offset > 1) beside it in the same file.
inline void read_buffers(flatbuffer& fb, const flatbuffer::table& root, model& m) {
    const std::size_t n = m.bytes.size();
    const auto bufs = fb.vector(root, 4, 4, "model", "buffers");
    if (!bufs) return;
    for (uint32_t i = 0; i < bufs->count; ++i) {
        const std::string where = "buffer " + std::to_string(i);
        fb.spend(sizeof(buffer), where);
        const auto t = fb.element(*bufs, i, where, "Buffer");
        buffer b;
        if (const auto d = fb.vector(t, 0, 1, where, "data")) {
            b.offset = d->data();
            b.size = d->count;
        }
        const uint64_t off = fb.scalar<uint64_t>(t, 1, 0, where, "offset");
        const uint64_t size = fb.scalar<uint64_t>(t, 2, 0, where, "size");
        if (off > 1) {  // data outside the FlatBuffer, relative to the start of the file
            if (off > n || size > n - off)
                fb.fail(errc::tflite, where,
                        "external data at offset " + hex(static_cast<std::size_t>(std::min<uint64_t>(off, SIZE_MAX))) +
                            " of " + std::to_string(size) + " bytes " + fb.past_end());
            b.offset = static_cast<std::size_t>(off);
            b.size = static_cast<std::size_t>(size);
            b.external = true;
        }
        m.buffers.push_back(b);
    }
}

[[noreturn]] inline void bad_buffer_index(const flatbuffer& fb, const model& m, uint32_t index, const std::string& where) {
    fb.fail(errc::tflite, where,
            "buffer index " + std::to_string(index) + " out of range (model has " + std::to_string(m.buffers.size()) + " buffers)");
}

inline tensor read_tensor(flatbuffer& fb, const flatbuffer::table& t, const model& m, const std::string& where) {
    tensor x;
    x.shape = fb.scalars<int32_t>(t, 0, where, "shape");
    x.type = static_cast<tensor_type>(fb.scalar<int8_t>(t, 1, 0, where, "type"));
    x.buffer = fb.scalar<uint32_t>(t, 2, 0, where, "buffer");
    x.name = fb.string(t, 3, where, "name");
    if (x.buffer >= m.buffers.size()) bad_buffer_index(fb, m, x.buffer, where);
    if (const auto q = fb.sub_table(t, 4, where, "quantization")) {
        x.has_quantization = true;
        x.quantization = read_quantization(fb, *q, x.shape, where);
    }
    x.is_variable = fb.boolean(t, 5, false, where, "is_variable");
    x.is_sparse = fb.target(t, 6, where, "sparsity").has_value();
    x.shape_signature = fb.scalars<int32_t>(t, 7, where, "shape_signature");
    return x;
}

/// Operator.builtin_options: decoded for the types qint8 reads, else only bounds-checked.
inline void read_operator_options(flatbuffer& fb, const flatbuffer::table& t, op& o, const std::string& where) {
    o.options_type = fb.scalar<uint8_t>(t, 3, 0, where, "builtin_options_type");
    if (decoded_options_type(o.options_type)) {
        const std::string what = options_type_name(o.options_type);
        if (const auto ot = fb.sub_table(t, 4, where, what)) {
            o.has_options_table = true;
            o.opts = read_options(fb, o.options_type, *ot, where);
        } else {
            o.opts = default_options(o.options_type);
        }
    } else if (o.options_type != 0) {
        // recorded raw; the table is only checked to lie inside the file
        o.has_options_table = fb.target(t, 4, where, "builtin_options").has_value();
    }
}

/// One Operator of a subgraph with `nt` tensors.
inline op read_operator(flatbuffer& fb, const flatbuffer::table& t, const model& m, std::size_t nt, std::string where) {
    op o;
    o.opcode_index = fb.scalar<uint32_t>(t, 0, 0, where, "opcode_index");
    if (o.opcode_index >= m.operator_codes.size())
        fb.fail(errc::tflite, where,
                "opcode index " + std::to_string(o.opcode_index) + " out of range (model has " +
                    std::to_string(m.operator_codes.size()) + " operator codes)");
    o.builtin = m.operator_codes[o.opcode_index].builtin;
    where += std::string(" (") + builtin_name(o.builtin) + ")";
    o.inputs = fb.scalars<int32_t>(t, 1, where, "inputs");
    o.outputs = fb.scalars<int32_t>(t, 2, where, "outputs");
    check_indices(fb, o.inputs, nt, true, where, "input");
    check_indices(fb, o.outputs, nt, true, where, "output");
    read_operator_options(fb, t, o, where);
    if (const auto co = fb.vector(t, 5, 1, where, "custom_options")) o.custom_options = {co->data(), co->count};
    o.intermediates = fb.scalars<int32_t>(t, 8, where, "intermediates");
    check_indices(fb, o.intermediates, nt, false, where, "intermediate");
    return o;
}

/// One SubGraph: tensors, inputs and outputs, operators, name (in that order of checks).
inline subgraph read_subgraph(flatbuffer& fb, const flatbuffer::table& st, const model& m, const std::string& sw) {
    subgraph g;
    if (const auto ts = fb.vector(st, 0, 4, sw, "tensors")) {
        for (uint32_t i = 0; i < ts->count; ++i) {
            const std::string where = sw + " tensor " + std::to_string(i);
            fb.spend(sizeof(tensor), where);
            g.tensors.push_back(read_tensor(fb, fb.element(*ts, i, where, "Tensor"), m, where));
        }
    }
    const std::size_t nt = g.tensors.size();
    g.inputs = fb.scalars<int32_t>(st, 1, sw, "inputs");
    g.outputs = fb.scalars<int32_t>(st, 2, sw, "outputs");
    check_indices(fb, g.inputs, nt, false, sw, "input");
    check_indices(fb, g.outputs, nt, false, sw, "output");
    if (const auto ops = fb.vector(st, 3, 4, sw, "operators")) {
        for (uint32_t i = 0; i < ops->count; ++i) {
            const std::string where = sw + " operator " + std::to_string(i);
            fb.spend(sizeof(op), where);
            g.ops.push_back(read_operator(fb, fb.element(*ops, i, where, "Operator"), m, nt, where));
        }
    }
    g.name = fb.string(st, 4, sw, "name");
    return g;
}

/// Model.subgraphs (slot 2): at least one.
inline void read_subgraphs(flatbuffer& fb, const flatbuffer::table& root, model& m) {
    const auto sgs = fb.vector(root, 2, 4, "model", "subgraphs");
    if (!sgs || sgs->count == 0) fb.fail(errc::tflite, "model", "has no subgraphs");
    for (uint32_t s = 0; s < sgs->count; ++s) {
        const std::string sw = "subgraph " + std::to_string(s);
        fb.spend(sizeof(subgraph), sw);
        m.subgraphs.push_back(read_subgraph(fb, fb.element(*sgs, s, sw, "SubGraph"), m, sw));
    }
}

/// Model.metadata (slot 6).
inline void read_metadata(flatbuffer& fb, const flatbuffer::table& root, model& m) {
    const auto md = fb.vector(root, 6, 4, "model", "metadata");
    if (!md) return;
    for (uint32_t i = 0; i < md->count; ++i) {
        const std::string where = "metadata " + std::to_string(i);
        fb.spend(sizeof(metadata_entry), where);
        const auto t = fb.element(*md, i, where, "Metadata");
        metadata_entry e;
        e.name = fb.string(t, 0, where, "name");
        e.buffer = fb.scalar<uint32_t>(t, 1, 0, where, "buffer");
        if (e.buffer >= m.buffers.size()) bad_buffer_index(fb, m, e.buffer, where);
        m.metadata.push_back(std::move(e));
    }
}

}  // namespace detail_tflite

/// Parse the bytes of a .tflite file. `origin` names the file in messages. Throws qint8::error.
inline model parse(std::vector<uint8_t> bytes, const std::string& origin) {
    using detail_tflite::flatbuffer;
    model m;
    m.origin = origin;
    m.bytes = std::move(bytes);
    flatbuffer fb(m.bytes.data(), m.bytes.size(), m.origin);
    detail_tflite::check_identifier(fb, m);
    const flatbuffer::table root = fb.open_table(fb.follow(0, "", "root table"), "model", "root Model");
    m.version = fb.scalar<uint32_t>(root, 0, 0, "model", "version");
    if (m.version != 3)
        fb.fail(errc::tflite, "model",
                "schema version " + std::to_string(m.version) + ", this reader knows version 3");
    detail_tflite::read_operator_codes(fb, root, m);
    m.description = fb.string(root, 3, "model", "description");
    detail_tflite::read_buffers(fb, root, m);
    detail_tflite::read_subgraphs(fb, root, m);
    detail_tflite::read_metadata(fb, root, m);
    return m;
}

/// Read and parse a .tflite file. Throws qint8::error (errc::io when the file cannot be read).
inline model read(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw error(errc::io, path + ": cannot open: " + std::strerror(errno));
    const std::streamoff end = in.tellg();
    if (end < 0) throw error(errc::io, path + ": cannot determine the file size");
    std::vector<uint8_t> bytes(static_cast<std::size_t>(end));
    in.seekg(0);
    if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
        throw error(errc::io, path + ": read failed after " + std::to_string(in.gcount()) + " of " +
                                  std::to_string(bytes.size()) + " bytes");
    return parse(std::move(bytes), path);
}

}  // namespace qint8::convert::tflite
