// CRC-16/CCITT-FALSE as the Nuki Bluetooth API uses it (poly 0x1021, init 0xFFFF, no reflection,
// no final XOR). Every frame ends with the CRC of everything before it, stored little-endian.
// Check value: bytes 01 00 03 00 -> 0xA727 (on the wire: 27 A7). Pure and thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace lintel::ble {

uint16_t Crc16CcittFalse(std::span<const uint8_t> data);

}  // namespace lintel::ble
