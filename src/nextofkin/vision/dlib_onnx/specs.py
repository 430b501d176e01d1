"""dlib's two face networks written out layer by layer, from the loss down to the input.

These mirror the C++ type declarations in dlib's ``tools/python/src/face_recognition.cpp``
(``anet_type``) and ``cnn_face_detector.cpp`` (``net_type``); the .dat reader checks the file
against them.
"""

from __future__ import annotations

from nextofkin.vision.dlib_onnx.layers import (
    AddPrev,
    Affine,
    AvgPool,
    Conv,
    FcNoBias,
    InputPyramid,
    InputSized,
    Layer,
    LossMetric,
    LossMmod,
    MaxPool,
    Relu,
    Skip,
    Tag,
)


def _block(filters: int, stride: int) -> list[Layer]:
    # block<N,BN,stride,SUBNET> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return [Affine(), Conv(filters, 3, 1), Relu(), Affine(), Conv(filters, 3, stride)]


def _ares(filters: int) -> list[Layer]:
    # ares<N,SUBNET> = relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [Relu(), AddPrev(1), *_block(filters, 1), Tag(1)]


def _ares_down(filters: int) -> list[Layer]:
    # ares_down<N,SUBNET> = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,
    #                       tag1<SUBNET>>>>>>>
    return [Relu(), AddPrev(2), AvgPool(2, 2), Skip(1), Tag(2), *_block(filters, 2), Tag(1)]


def resnet_spec() -> list[Layer]:
    """``anet_type``: the 29-layer ResNet behind ``dlib_face_recognition_resnet_model_v1.dat``."""
    return [
        LossMetric(),
        FcNoBias(128),
        AvgPool(0, 1),  # avg_pool_everything
        *_ares_down(256),  # alevel0
        *_ares(256),  # alevel1
        *_ares(256),
        *_ares_down(256),
        *_ares(128),  # alevel2
        *_ares(128),
        *_ares_down(128),
        *_ares(64),  # alevel3
        *_ares(64),
        *_ares(64),
        *_ares_down(64),
        *_ares(32),  # alevel4
        *_ares(32),
        *_ares(32),
        MaxPool(3, 2),
        Relu(),
        Affine(),
        Conv(32, 7, 2),
        InputSized(150),
    ]


def mmod_spec() -> list[Layer]:
    """``net_type`` of dlib's CNN face detector (``mmod_human_face_detector.dat``)."""

    def rcon5() -> list[Layer]:
        return [Relu(), Affine(), Conv(45, 5, 1)]

    return [
        LossMmod(),
        Conv(1, 9, 1),
        *rcon5(),
        *rcon5(),
        *rcon5(),
        # downsampler: relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16,SUBNET>>>
        Relu(),
        Affine(),
        Conv(32, 5, 2),
        Relu(),
        Affine(),
        Conv(32, 5, 2),
        Relu(),
        Affine(),
        Conv(16, 5, 2),
        InputPyramid(),
    ]
