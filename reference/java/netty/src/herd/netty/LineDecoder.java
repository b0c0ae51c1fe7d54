package herd.netty;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.LineBasedFrameDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Lines as Latin-1 strings (one char per byte), cut at each \n only: a \r before it stays in the
 * line, as the contract wants (it is white space to the grammar, and not echoed in a ? reply).
 * Netty's LineBasedFrameDecoder does the search; this one keeps the \r, and can hand on a last
 * line that the end of input cut short.
 */
final class LineDecoder extends LineBasedFrameDecoder {
    private final boolean lastLineCounts;

    /** `maxLength` bytes at most a line; `lastLineCounts`: a line ended by the end of input is a line. */
    LineDecoder(int maxLength, boolean lastLineCounts) {
        super(maxLength, false, true);
        this.lastLineCounts = lastLineCounts;
    }

    @Override
    protected Object decode(ChannelHandlerContext ctx, ByteBuf buffer) throws Exception {
        final Object frame = super.decode(ctx, buffer);
        if (!(frame instanceof ByteBuf line)) {
            return frame;
        }
        try {
            return line.toString(line.readerIndex(), line.readableBytes() - 1, StandardCharsets.ISO_8859_1); // less the \n
        } finally {
            line.release();
        }
    }

    @Override
    protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        super.decodeLast(ctx, in, out);
        if (lastLineCounts && in.isReadable()) {
            out.add(in.readCharSequence(in.readableBytes(), StandardCharsets.ISO_8859_1).toString());
        }
    }
}
