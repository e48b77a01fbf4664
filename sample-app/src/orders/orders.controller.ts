import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  UseInterceptors,
} from '@nestjs/common';
import { OutboxInterceptor } from '@conveyor/outbox';
import { ZodBody } from '../validation.pipe';
import { type CreateOrder, CreateOrderSchema } from './order.schema';
import { type OrderView, OrdersService } from './orders.service';

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** Validates, then writes the order and its jobs in one transaction. */
  @Post()
  @HttpCode(201)
  @UseInterceptors(OutboxInterceptor)
  create(@Body(new ZodBody(CreateOrderSchema)) body: CreateOrder): Promise<OrderView> {
    return this.orders.create(body);
  }

  /** The order and the state of each of its jobs. */
  @Get(':id')
  find(@Param('id', new ParseUUIDPipe()) id: string): Promise<OrderView> {
    return this.orders.find(id);
  }
}
